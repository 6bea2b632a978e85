package armsim

import (
	"context"
	"net/http"
	"slices"
	"time"

	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v8"
	computefake "github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v8/fake"
)

var diskSKUs = []armcompute.DiskStorageAccountTypes{
	armcompute.DiskStorageAccountTypesStandardLRS, armcompute.DiskStorageAccountTypesStandardSSDLRS,
	armcompute.DiskStorageAccountTypesPremiumLRS, armcompute.DiskStorageAccountTypesPremiumV2LRS,
	armcompute.DiskStorageAccountTypesUltraSSDLRS,
}

func (st *state) diskServer() computefake.DisksServer {
	s := st.s
	return computefake.DisksServer{
		BeginCreateOrUpdate: func(ctx context.Context, rg, name string, d armcompute.Disk, _ *armcompute.DisksClientBeginCreateOrUpdateOptions) (azfake.PollerResponder[diskPut], azfake.ErrorResponder) {
			s.mu.Lock()
			defer s.mu.Unlock()
			if !st.rgExists(rg) {
				return fail[diskPut](ctx, http.StatusNotFound, "ResourceGroupNotFound", "Resource group '%s' could not be found.", rg)
			}
			if d.Location == nil || s.opts.Locations[*d.Location] == nil {
				return fail[diskPut](ctx, http.StatusBadRequest, "LocationNotAvailableForResourceType", "location is missing or not served")
			}
			if d.SKU != nil && d.SKU.Name != nil && !slices.Contains(diskSKUs, *d.SKU.Name) {
				return fail[diskPut](ctx, http.StatusBadRequest, "InvalidParameter", "disk sku %s is not valid", *d.SKU.Name)
			}
			id := s.id(rg, compute, "disks", name)
			k := key(id)
			if old, ok := st.disks[k]; ok {
				// A PUT of an existing disk updates tags (and may grow it).
				old.Tags = d.Tags
				return lro(ctx, s, http.StatusOK, as[diskPut](old), nil)
			}
			p := d.Properties
			if p == nil || p.CreationData == nil || p.CreationData.CreateOption == nil {
				return fail[diskPut](ctx, http.StatusBadRequest, "InvalidParameter", "creationData.createOption is required")
			}
			switch *p.CreationData.CreateOption {
			case armcompute.DiskCreateOptionEmpty:
				if p.DiskSizeGB == nil || *p.DiskSizeGB <= 0 || *p.DiskSizeGB > 32767 {
					return fail[diskPut](ctx, http.StatusBadRequest, "InvalidParameter", "diskSizeGB must be between 1 and 32767")
				}
			case armcompute.DiskCreateOptionCopy:
				src := p.CreationData.SourceResourceID
				if src == nil {
					return fail[diskPut](ctx, http.StatusBadRequest, "InvalidParameter", "sourceResourceId is required for Copy")
				}
				var srcSize int32
				if sn, ok := st.snaps[key(*src)]; ok {
					srcSize = *sn.Properties.DiskSizeGB
				} else if sd, ok := st.disks[key(*src)]; ok {
					srcSize = *sd.Properties.DiskSizeGB
				} else {
					return fail[diskPut](ctx, http.StatusNotFound, "NotFound", "source %s not found", *src)
				}
				if p.DiskSizeGB == nil {
					p.DiskSizeGB = to.Ptr(srcSize)
				}
				if *p.DiskSizeGB < srcSize {
					return fail[diskPut](ctx, http.StatusBadRequest, "InvalidParameter", "disk size %d GB is smaller than the source (%d GB)", *p.DiskSizeGB, srcSize)
				}
			case armcompute.DiskCreateOptionUpload:
				n := p.CreationData.UploadSizeBytes
				if n == nil || *n < minUpload || *n > maxUpload || (*n-footerSize)%mib != 0 {
					return fail[diskPut](ctx, http.StatusBadRequest, "InvalidParameter",
						"uploadSizeBytes must be a whole number of MiB plus 512 (the VHD footer), between %d and %d", int64(minUpload), int64(maxUpload))
				}
				p.DiskSizeGB = to.Ptr(int32((*n - footerSize + gib - 1) / gib))
			default:
				return fail[diskPut](ctx, http.StatusBadRequest, "InvalidParameter", "createOption %s is not simulated", *p.CreationData.CreateOption)
			}
			next := clone(&d)
			setMeta(next, id, name, "Microsoft.Compute/disks")
			next.Properties.DiskState = to.Ptr(armcompute.DiskStateUnattached)
			if *p.CreationData.CreateOption == armcompute.DiskCreateOptionUpload {
				next.Properties.DiskState = to.Ptr(armcompute.DiskStateReadyToUpload)
			}
			next.Properties.TimeCreated = to.Ptr(time.Now().UTC())
			next.Properties.ProvisioningState = to.Ptr("Creating")
			st.disks[k] = next
			final := clone(next)
			final.Properties.ProvisioningState = to.Ptr("Succeeded")
			return lro(ctx, s, http.StatusAccepted, as[diskPut](final), func() {
				if cur := st.disks[k]; cur != nil {
					cur.Properties.ProvisioningState = to.Ptr("Succeeded")
				}
			})
		},
		BeginUpdate: func(ctx context.Context, rg, name string, u armcompute.DiskUpdate, _ *armcompute.DisksClientBeginUpdateOptions) (azfake.PollerResponder[diskPat], azfake.ErrorResponder) {
			s.mu.Lock()
			defer s.mu.Unlock()
			id := s.id(rg, compute, "disks", name)
			d, ok := st.disks[key(id)]
			if !ok {
				return fail[diskPat](ctx, http.StatusNotFound, "ResourceNotFound", "The Resource '%s' was not found.", id)
			}
			if u.Properties != nil && u.Properties.DiskSizeGB != nil {
				if *u.Properties.DiskSizeGB < *d.Properties.DiskSizeGB {
					return fail[diskPat](ctx, http.StatusBadRequest, "BadRequest", "Disk size can only be increased.")
				}
				if d.ManagedBy != nil && st.power[key(*d.ManagedBy)] != "deallocated" {
					return fail[diskPat](ctx, http.StatusConflict, "OperationNotAllowed", "Disk resize of an attached disk requires the VM to be deallocated.")
				}
			}
			if u.Tags != nil {
				d.Tags = u.Tags
			}
			final := clone(d)
			if u.Properties != nil && u.Properties.DiskSizeGB != nil {
				final.Properties.DiskSizeGB = u.Properties.DiskSizeGB
			}
			d.Properties.ProvisioningState = to.Ptr("Updating")
			return lro(ctx, s, http.StatusAccepted, as[diskPat](final), func() {
				if cur := st.disks[key(id)]; cur != nil {
					cur.Properties.DiskSizeGB = final.Properties.DiskSizeGB
					cur.Properties.ProvisioningState = to.Ptr("Succeeded")
				}
			})
		},
		BeginDelete: func(ctx context.Context, rg, name string, _ *armcompute.DisksClientBeginDeleteOptions) (azfake.PollerResponder[diskDel], azfake.ErrorResponder) {
			s.mu.Lock()
			defer s.mu.Unlock()
			id := s.id(rg, compute, "disks", name)
			d, ok := st.disks[key(id)]
			if !ok {
				return gone[diskDel]()
			}
			if d.ManagedBy != nil {
				return fail[diskDel](ctx, http.StatusConflict, "OperationNotAllowed", "Disk %s is attached to VM %s.", name, *d.ManagedBy)
			}
			if ds := d.Properties.DiskState; ds != nil && (*ds == armcompute.DiskStateActiveUpload || *ds == armcompute.DiskStateActiveSAS) {
				return fail[diskDel](ctx, http.StatusConflict, "OperationNotAllowed", "Disk %s has an active SAS; revoke access first.", name)
			}
			delete(st.blobs, key(id))
			d.Properties.ProvisioningState = to.Ptr("Deleting")
			return lro(ctx, s, http.StatusAccepted, diskDel{}, func() { delete(st.disks, key(id)) })
		},
		Get: func(ctx context.Context, rg, name string, _ *armcompute.DisksClientGetOptions) (azfake.Responder[armcompute.DisksClientGetResponse], azfake.ErrorResponder) {
			return get[armcompute.Disk, armcompute.DisksClientGetResponse](ctx, s, st.disks, s.id(rg, compute, "disks", name))
		},
		BeginGrantAccess: func(ctx context.Context, rg, name string, g armcompute.GrantAccessData, _ *armcompute.DisksClientBeginGrantAccessOptions) (azfake.PollerResponder[diskGrant], azfake.ErrorResponder) {
			return st.grantAccess(ctx, rg, name, g)
		},
		BeginRevokeAccess: func(ctx context.Context, rg, name string, _ *armcompute.DisksClientBeginRevokeAccessOptions) (azfake.PollerResponder[diskRevoke], azfake.ErrorResponder) {
			return st.revokeAccess(ctx, rg, name)
		},
	}
}

func (st *state) snapshotServer() computefake.SnapshotsServer {
	s := st.s
	return computefake.SnapshotsServer{
		BeginCreateOrUpdate: func(ctx context.Context, rg, name string, sn armcompute.Snapshot, _ *armcompute.SnapshotsClientBeginCreateOrUpdateOptions) (azfake.PollerResponder[snapPut], azfake.ErrorResponder) {
			s.mu.Lock()
			defer s.mu.Unlock()
			if !st.rgExists(rg) {
				return fail[snapPut](ctx, http.StatusNotFound, "ResourceGroupNotFound", "Resource group '%s' could not be found.", rg)
			}
			id := s.id(rg, compute, "snapshots", name)
			k := key(id)
			if old, ok := st.snaps[k]; ok {
				return lro(ctx, s, http.StatusOK, as[snapPut](old), nil)
			}
			p := sn.Properties
			if sn.Location == nil || p == nil || p.CreationData == nil || p.CreationData.SourceResourceID == nil {
				return fail[snapPut](ctx, http.StatusBadRequest, "InvalidParameter", "location and creationData.sourceResourceId are required")
			}
			src, ok := st.disks[key(*p.CreationData.SourceResourceID)]
			if !ok {
				return fail[snapPut](ctx, http.StatusNotFound, "NotFound", "source disk %s not found", *p.CreationData.SourceResourceID)
			}
			next := clone(&sn)
			setMeta(next, id, name, "Microsoft.Compute/snapshots")
			next.Properties.DiskSizeGB = src.Properties.DiskSizeGB
			next.Properties.OSType = src.Properties.OSType
			next.Properties.TimeCreated = to.Ptr(time.Now().UTC())
			next.Properties.ProvisioningState = to.Ptr("Creating")
			st.snaps[k] = next
			final := clone(next)
			final.Properties.ProvisioningState = to.Ptr("Succeeded")
			return lro(ctx, s, http.StatusAccepted, as[snapPut](final), func() {
				if cur := st.snaps[k]; cur != nil {
					cur.Properties.ProvisioningState = to.Ptr("Succeeded")
				}
			})
		},
		BeginDelete: func(ctx context.Context, rg, name string, _ *armcompute.SnapshotsClientBeginDeleteOptions) (azfake.PollerResponder[snapDel], azfake.ErrorResponder) {
			s.mu.Lock()
			defer s.mu.Unlock()
			k := key(s.id(rg, compute, "snapshots", name))
			sn, ok := st.snaps[k]
			if !ok {
				return gone[snapDel]()
			}
			for _, im := range st.images {
				if os := im.Properties.StorageProfile.OSDisk; os != nil && os.Snapshot != nil && key(*os.Snapshot.ID) == k {
					return fail[snapDel](ctx, http.StatusConflict, "OperationNotAllowed", "snapshot is the source of image %s", *im.Name)
				}
			}
			sn.Properties.ProvisioningState = to.Ptr("Deleting")
			return lro(ctx, s, http.StatusAccepted, snapDel{}, func() { delete(st.snaps, k) })
		},
		Get: func(ctx context.Context, rg, name string, _ *armcompute.SnapshotsClientGetOptions) (azfake.Responder[armcompute.SnapshotsClientGetResponse], azfake.ErrorResponder) {
			return get[armcompute.Snapshot, armcompute.SnapshotsClientGetResponse](ctx, s, st.snaps, s.id(rg, compute, "snapshots", name))
		},
		NewListByResourceGroupPager: func(rg string, _ *armcompute.SnapshotsClientListByResourceGroupOptions) azfake.PagerResponder[armcompute.SnapshotsClientListByResourceGroupResponse] {
			s.mu.Lock()
			defer s.mu.Unlock()
			return pages[armcompute.SnapshotsClientListByResourceGroupResponse](s, inRG(st.snaps, s.opts.SubscriptionID, rg))
		},
	}
}

func (st *state) imageServer() computefake.ImagesServer {
	s := st.s
	return computefake.ImagesServer{
		BeginCreateOrUpdate: func(ctx context.Context, rg, name string, im armcompute.Image, _ *armcompute.ImagesClientBeginCreateOrUpdateOptions) (azfake.PollerResponder[imagePut], azfake.ErrorResponder) {
			s.mu.Lock()
			defer s.mu.Unlock()
			if !st.rgExists(rg) {
				return fail[imagePut](ctx, http.StatusNotFound, "ResourceGroupNotFound", "Resource group '%s' could not be found.", rg)
			}
			id := s.id(rg, compute, "images", name)
			k := key(id)
			if old, ok := st.images[k]; ok {
				return lro(ctx, s, http.StatusOK, as[imagePut](old), nil)
			}
			p := im.Properties
			if im.Location == nil || p == nil || p.StorageProfile == nil || p.StorageProfile.OSDisk == nil {
				return fail[imagePut](ctx, http.StatusBadRequest, "InvalidParameter", "location and storageProfile.osDisk are required")
			}
			os := p.StorageProfile.OSDisk
			switch {
			case os.Snapshot != nil && os.Snapshot.ID != nil:
				if _, ok := st.snaps[key(*os.Snapshot.ID)]; !ok {
					return fail[imagePut](ctx, http.StatusNotFound, "NotFound", "snapshot %s not found", *os.Snapshot.ID)
				}
			case os.ManagedDisk != nil && os.ManagedDisk.ID != nil:
				src, ok := st.disks[key(*os.ManagedDisk.ID)]
				if !ok {
					return fail[imagePut](ctx, http.StatusNotFound, "NotFound", "disk %s not found", *os.ManagedDisk.ID)
				}
				if ds := src.Properties.DiskState; ds != nil && *ds != armcompute.DiskStateUnattached && *ds != armcompute.DiskStateReserved && *ds != armcompute.DiskStateAttached {
					return fail[imagePut](ctx, http.StatusConflict, "OperationNotAllowed", "disk %s is %s; an image needs an uploaded, unattached disk", *src.Name, *ds)
				}
			default:
				return fail[imagePut](ctx, http.StatusBadRequest, "InvalidParameter", "osDisk needs a snapshot or managed disk source")
			}
			if os.OSState == nil || *os.OSState != armcompute.OperatingSystemStateTypesGeneralized && *os.OSState != armcompute.OperatingSystemStateTypesSpecialized {
				return fail[imagePut](ctx, http.StatusBadRequest, "InvalidParameter", "osDisk.osState is required")
			}
			next := clone(&im)
			setMeta(next, id, name, "Microsoft.Compute/images")
			next.Properties.ProvisioningState = to.Ptr("Creating")
			st.images[k] = next
			final := clone(next)
			final.Properties.ProvisioningState = to.Ptr("Succeeded")
			return lro(ctx, s, http.StatusCreated, as[imagePut](final), func() {
				if cur := st.images[k]; cur != nil {
					cur.Properties.ProvisioningState = to.Ptr("Succeeded")
				}
			})
		},
		BeginDelete: func(ctx context.Context, rg, name string, _ *armcompute.ImagesClientBeginDeleteOptions) (azfake.PollerResponder[imageDel], azfake.ErrorResponder) {
			s.mu.Lock()
			defer s.mu.Unlock()
			k := key(s.id(rg, compute, "images", name))
			if _, ok := st.images[k]; !ok {
				return gone[imageDel]()
			}
			return lro(ctx, s, http.StatusAccepted, imageDel{}, func() { delete(st.images, k) })
		},
		Get: func(ctx context.Context, rg, name string, _ *armcompute.ImagesClientGetOptions) (azfake.Responder[armcompute.ImagesClientGetResponse], azfake.ErrorResponder) {
			return get[armcompute.Image, armcompute.ImagesClientGetResponse](ctx, s, st.images, s.id(rg, compute, "images", name))
		},
		NewListByResourceGroupPager: func(rg string, _ *armcompute.ImagesClientListByResourceGroupOptions) azfake.PagerResponder[armcompute.ImagesClientListByResourceGroupResponse] {
			s.mu.Lock()
			defer s.mu.Unlock()
			return pages[armcompute.ImagesClientListByResourceGroupResponse](s, inRG(st.images, s.opts.SubscriptionID, rg))
		},
	}
}
