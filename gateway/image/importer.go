package image

import (
	"context"
	"errors"
	"io"
	"sync"

	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/imagestore"
	"github.com/canopy-cloud/canopy/registry"
)

// Import bookkeeping properties, as Glance names them. They are os_glance_*
// (reserved: users can neither set nor remove them) and shown on the image.
const (
	propImportTask    = "os_glance_import_task"         // the lock: id of the running import
	propImportingTo   = "os_glance_importing_to_stores" // stores still to fill
	propFailedImport  = "os_glance_failed_import"       // stores that failed
	propStagePending  = "os_glance_stage_pending"       // staging data still being written (hidden)
	gatewayStoreID    = "canopy"                        // the gateway's own store, as /v2/info/stores names it
	importQueueLength = 64
)

// importJob is one accepted import, waiting for a worker.
type importJob struct {
	project, imageID, taskID, method, uri string
}

// importer queues import jobs for the workers Run starts.
type importer struct {
	jobs chan importJob

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
	closed bool // Close was called: a later Run returns at once
}

func newImporter() *importer { return &importer{jobs: make(chan importJob, importQueueLength)} }

// submit queues j; false when the queue is full.
func (im *importer) submit(j importJob) bool {
	select {
	case im.jobs <- j:
		return true
	default:
		return false
	}
}

// Run executes image imports (glance-direct, web-download) until ctx ends
// or Close is called, then fails the imports it could not finish, so no
// image is left "importing". It returns when every worker has stopped.
func (s *Service) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	im := s.imports
	im.mu.Lock()
	if im.closed {
		im.mu.Unlock()
		cancel()
		return nil
	}
	if im.cancel != nil {
		im.mu.Unlock()
		cancel()
		return errors.New("image: Run is already running")
	}
	done := make(chan struct{})
	im.cancel, im.done = cancel, done
	im.mu.Unlock()
	defer func() {
		im.mu.Lock()
		im.cancel, im.done = nil, nil
		im.mu.Unlock()
		close(done)
	}()

	var wg sync.WaitGroup
	for range s.opts.ImportWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case j := <-im.jobs:
					s.runImport(ctx, j)
				}
			}
		}()
	}
	wg.Wait()
	for {
		select {
		case j := <-im.jobs:
			s.finishImport(context.WithoutCancel(ctx), j, imagestore.Info{}, context.Canceled)
		default:
			s.fetch.close()
			return ctx.Err()
		}
	}
}

// Close stops Run and waits for it; it is safe when Run is not running,
// and a Run started after Close returns at once.
func (s *Service) Close() {
	im := s.imports
	im.mu.Lock()
	im.closed = true
	cancel, done := im.cancel, im.done
	im.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

func stagingKey(id string) string { return id + ".staging" }

// runImport copies the import's bytes into the store and records the result.
func (s *Service) runImport(ctx context.Context, j importJob) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.ImportTimeout)
	defer cancel()
	s.startTask(context.WithoutCancel(ctx), j)
	var src io.ReadCloser
	var err error
	switch j.method {
	case "glance-direct":
		src, _, err = s.store.Open(ctx, stagingKey(j.imageID))
	case "web-download":
		src, err = s.fetch.open(ctx, j.uri)
	default:
		err = errors.New("image: unknown import method " + j.method)
	}
	var info imagestore.Info
	if err == nil {
		info, err = s.store.Put(ctx, j.imageID, s.progress(context.WithoutCancel(ctx), j, src), s.opts.MaxImageSize)
		src.Close()
	}
	s.finishImport(context.WithoutCancel(ctx), j, info, err)
}

// finishImport records an import's outcome: active with the checksums and
// the store's location, or back to queued with the store listed in
// os_glance_failed_import (as Glance reverts a failed import). An image
// deleted meanwhile, or whose lock another import took, keeps nothing.
func (s *Service) finishImport(ctx context.Context, j importJob, info imagestore.Info, failure error) {
	log := wire.Logger(ctx)
	_, err := s.images.Update(ctx, j.project, j.imageID, func(cur *registry.Image) error {
		if cur.Properties[propImportTask] != j.taskID || cur.Status != "importing" {
			return errNoChange
		}
		delete(cur.Properties, propImportTask)
		delete(cur.Properties, propImportingTo)
		cur.Updated = s.now()
		if failure != nil {
			cur.Status = "queued"
			cur.Properties[propFailedImport] = gatewayStoreID
			return nil
		}
		size := info.Size
		cur.Status, cur.Size, cur.Checksum, cur.HashAlgo, cur.HashValue = "active", &size, info.MD5, "sha512", info.SHA512
		cur.Locations = append(cur.Locations[:0:0], registry.ImageLocation{URL: storeLocation(j.imageID)})
		delete(cur.Properties, propFailedImport)
		return nil
	})
	if failure != nil {
		log.Warn("image import failed", "image", j.imageID, "method", j.method, "error", failure)
	}
	if failure == nil && err != nil {
		// The record did not take the data: do not keep orphaned bytes.
		if derr := s.store.Delete(ctx, j.imageID); derr != nil {
			log.Warn("imported data left behind", "image", j.imageID, "error", derr)
		}
	}
	if err != nil && !errors.Is(err, errNoChange) && !errors.Is(err, registry.ErrNotFound) {
		log.Error("could not record the import outcome", "image", j.imageID, "error", err)
	}
	taskErr := failure
	if taskErr == nil && err != nil {
		taskErr = errImportNotRecorded
	}
	s.finishTask(ctx, j, taskErr)
	if j.method == "glance-direct" {
		if derr := s.store.Delete(ctx, stagingKey(j.imageID)); derr != nil {
			log.Warn("staging data left behind", "image", j.imageID, "error", derr)
		}
	}
}
