package blockstorage

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/registry"
)

// getSnapshot reads a snapshot the caller may see, refreshed while creating.
func (s *Service) getSnapshot(ctx context.Context, p *wire.Principal, id string) (*Snapshot, error) {
	sv, err := s.snapshots.Lookup(ctx, id)
	if err != nil && !errors.Is(err, registry.ErrNotFound) {
		return nil, err
	}
	if err != nil || (sv.Project != p.ProjectID && !p.IsAdmin()) {
		return nil, wire.NotFound("Snapshot %s could not be found.", id)
	}
	return s.refreshSnapshot(ctx, sv.Value), nil
}

func (s *Service) refreshSnapshot(ctx context.Context, sn *Snapshot) *Snapshot {
	if sn.Status != StatusCreating {
		return sn
	}
	d, err := s.driver(sn.Cloud)
	if err != nil {
		return sn
	}
	st, err := d.GetSnapshot(ctx, sn.ID)
	if err != nil || string(st.State) == sn.Status {
		return sn
	}
	nsn, err := s.snapshots.Update(ctx, sn.ProjectID, sn.ID, func(cur *Snapshot) error {
		cur.Status, cur.Updated = string(st.State), s.opts.Now().UTC()
		return nil
	})
	if err != nil {
		return sn
	}
	return nsn
}

// snapshotCount counts the snapshots of v.
func (s *Service) snapshotCount(ctx context.Context, v *Volume) (int, error) {
	all, err := s.snapshots.List(ctx, v.ProjectID, registry.Page{})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, sn := range all {
		if sn.VolumeID == v.ID {
			n++
		}
	}
	return n, nil
}

func (s *Service) createSnapshot(w http.ResponseWriter, r *http.Request) error {
	p, err := writer(r)
	if err != nil {
		return err
	}
	var req struct {
		Snapshot *struct {
			VolumeID           *string           `json:"volume_id"`
			Name               *string           `json:"name"`
			DisplayName        *string           `json:"display_name"`
			Description        *string           `json:"description"`
			DisplayDescription *string           `json:"display_description"`
			Force              any               `json:"force"`
			Metadata           map[string]string `json:"metadata"`
		} `json:"snapshot"`
	}
	if err := wire.DecodeJSON(r, &req, false); err != nil {
		return err
	}
	b := req.Snapshot
	if b == nil {
		return wire.BadRequest("Missing required element 'snapshot' in request body.")
	}
	if b.VolumeID == nil || *b.VolumeID == "" {
		return wire.NotFound("Volume None could not be found.") // Cinder looks the missing id up, as tempest expects
	}
	force, ok := parseBoolish(b.Force)
	if !ok {
		return wire.BadRequest("Invalid input for field/attribute force. Value: %v. It is not a valid boolean.", b.Force)
	}
	name := firstOf(b.Name, b.DisplayName)
	desc := b.Description
	if desc == nil {
		desc = b.DisplayDescription
	}
	if err := checkLen("name", name, 255); err != nil {
		return err
	}
	if desc != nil {
		if err := checkLen("description", *desc, 255); err != nil {
			return err
		}
	}
	if err := checkMetadata(b.Metadata); err != nil {
		return err
	}
	ctx := r.Context()
	v, err := s.getVolume(ctx, p, *b.VolumeID)
	if err != nil {
		return err
	}
	switch {
	case v.Status == StatusAvailable:
	case v.Status == StatusInUse && force:
	default:
		return wire.BadRequest("Invalid volume: Volume %s status must be available, but current status is: %s.", v.ID, v.Status)
	}
	if err := s.reserve(ctx, p.ProjectID, map[string]int{"snapshots": 1, "gigabytes": v.Size}); err != nil {
		return err
	}
	now := s.opts.Now().UTC()
	sn := &Snapshot{ID: newID(), ProjectID: p.ProjectID, UserID: p.UserID, VolumeID: v.ID, Name: name, Description: desc,
		Status: StatusCreating, Size: v.Size, Metadata: b.Metadata, Cloud: v.Routing.Cloud, Created: now, Updated: now}
	if sn.Metadata == nil {
		sn.Metadata = map[string]string{}
	}
	if err := s.snapshots.Create(ctx, p.ProjectID, sn.ID, now, sn); err != nil {
		_ = s.release(ctx, p.ProjectID, map[string]int{"snapshots": 1, "gigabytes": v.Size})
		return err
	}
	status := StatusError
	if d, derr := s.driver(sn.Cloud); derr == nil {
		st, cerr := d.CreateSnapshot(ctx, proxies.SnapshotSpec{ID: sn.ID, ProjectID: p.ProjectID, VolumeID: v.ID, Name: name, Force: force})
		if cerr == nil {
			status = string(st.State)
		} else {
			wire.Logger(ctx).Warn("snapshot create failed", "snapshot", sn.ID, "err", cerr)
		}
	}
	if nsn, err := s.snapshots.Update(ctx, p.ProjectID, sn.ID, func(cur *Snapshot) error {
		cur.Status = status
		return nil
	}); err == nil {
		sn = nsn
	}
	wire.WriteJSON(w, http.StatusAccepted, map[string]any{"snapshot": snapshotView(sn, false)})
	return nil
}

// parseBoolish reads Cinder's force flag: a JSON boolean or a boolean string.
func parseBoolish(v any) (bool, bool) {
	switch x := v.(type) {
	case nil:
		return false, true
	case bool:
		return x, true
	case string:
		b, err := strconv.ParseBool(x)
		return b, err == nil
	}
	return false, false
}

func snapshotField(sn *Snapshot, key string) any {
	switch key {
	case "id":
		return sn.ID
	case "name":
		return sn.Name
	case "status":
		return sn.Status
	case "size":
		return sn.Size
	case "updated_at":
		return sn.Updated
	case "volume_id":
		return sn.VolumeID
	case "availability_zone", "bootable":
		return ""
	}
	return sn.Created
}

func (s *Service) snapshotList(w http.ResponseWriter, r *http.Request, detail bool) error {
	ctx := r.Context()
	p := wire.PrincipalFrom(ctx)
	q := r.URL.Query()
	lq, err := parseListQuery(q)
	if err != nil {
		return err
	}
	project := p.ProjectID
	if all, _ := strconv.ParseBool(q.Get("all_tenants")); all && p.IsAdmin() {
		project = "*"
	}
	var md map[string]string
	if m := q.Get("metadata"); m != "" {
		if md, err = parseMetadataFilter(m); err != nil {
			return err
		}
	}
	name := q.Get("name")
	if name == "" {
		name = q.Get("display_name")
	}
	all, err := s.snapshots.List(ctx, project, registry.Page{})
	if err != nil {
		return err
	}
	sel := all[:0]
	for _, sn := range all {
		sn = s.refreshSnapshot(ctx, sn)
		switch {
		case name != "" && sn.Name != name,
			q.Has("status") && sn.Status != q.Get("status"),
			q.Has("volume_id") && sn.VolumeID != q.Get("volume_id"),
			md != nil && !hasMetadata(sn.Metadata, md):
			continue
		}
		sel = append(sel, sn)
	}
	got, more, err := page(sel, lq, func(sn *Snapshot) string { return sn.ID }, snapshotField)
	if err != nil {
		return err
	}
	out := make([]any, 0, len(got))
	for _, sn := range got {
		out = append(out, snapshotView(sn, detail))
	}
	body := map[string]any{"snapshots": out}
	if more {
		body["snapshots_links"] = nextLink(r, got[len(got)-1].ID)
	}
	wire.WriteJSON(w, http.StatusOK, body)
	return nil
}

func (s *Service) listSnapshots(w http.ResponseWriter, r *http.Request) error {
	return s.snapshotList(w, r, false)
}

func (s *Service) listSnapshotsDetail(w http.ResponseWriter, r *http.Request) error {
	return s.snapshotList(w, r, true)
}

func (s *Service) showSnapshot(w http.ResponseWriter, r *http.Request) error {
	sn, err := s.getSnapshot(r.Context(), wire.PrincipalFrom(r.Context()), r.PathValue("id"))
	if err != nil {
		return err
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"snapshot": snapshotView(sn, true)})
	return nil
}

func (s *Service) updateSnapshot(w http.ResponseWriter, r *http.Request) error {
	p, err := writer(r)
	if err != nil {
		return err
	}
	var req struct {
		Snapshot *struct {
			Name               *string `json:"name"`
			DisplayName        *string `json:"display_name"`
			Description        *string `json:"description"`
			DisplayDescription *string `json:"display_description"`
		} `json:"snapshot"`
	}
	if err := wire.DecodeJSON(r, &req, false); err != nil {
		return err
	}
	ctx := r.Context()
	cur, err := s.getSnapshot(ctx, p, r.PathValue("id"))
	if err != nil {
		return err
	}
	u := req.Snapshot
	if u == nil {
		return wire.BadRequest("Missing required element 'snapshot' in request body.")
	}
	name, desc := u.Name, u.Description
	if name == nil {
		name = u.DisplayName
	}
	if desc == nil {
		desc = u.DisplayDescription
	}
	if name != nil {
		if err := checkLen("name", *name, 255); err != nil {
			return err
		}
	}
	if desc != nil {
		if err := checkLen("description", *desc, 255); err != nil {
			return err
		}
	}
	sn, err := s.snapshots.Update(ctx, cur.ProjectID, cur.ID, func(sn *Snapshot) error {
		if name != nil {
			sn.Name = *name
		}
		if desc != nil {
			sn.Description = desc
		}
		sn.Updated = s.opts.Now().UTC()
		return nil
	})
	if err != nil {
		return err
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"snapshot": snapshotView(sn, false)})
	return nil
}

// deleteSnapshot removes a snapshot from its backend, then its record, and
// gives its quota back. 202 as Cinder; a repeat is 404.
func (s *Service) deleteSnapshot(w http.ResponseWriter, r *http.Request) error {
	p, err := writer(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	sn, err := s.getSnapshot(ctx, p, r.PathValue("id"))
	if err != nil {
		return err
	}
	if sn.Status != StatusAvailable && sn.Status != StatusError && sn.Status != StatusDeleting {
		return wire.BadRequest("Invalid snapshot: Snapshot status must be available or error and must not be part of a group.")
	}
	if d, derr := s.driver(sn.Cloud); derr == nil {
		if err := d.DeleteSnapshot(ctx, sn.ID); err != nil {
			return err
		}
	}
	if err := s.snapshots.Delete(ctx, sn.ProjectID, sn.ID); err == nil {
		if err := s.release(ctx, sn.ProjectID, map[string]int{"snapshots": 1, "gigabytes": sn.Size}); err != nil {
			wire.Logger(ctx).Error("snapshot quota not released", "snapshot", sn.ID, "err", err)
		}
	} else if !errors.Is(err, registry.ErrNotFound) {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}
