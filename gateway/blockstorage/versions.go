package blockstorage

import (
	"net/http"

	"github.com/canopy-cloud/canopy/gateway/wire"
)

// versionList is Cinder's version document: one v3.0 entry whose range is
// Microversions (keystoneauth, cinderclient and tempest read it).
func versionList(r *http.Request) map[string]any {
	return map[string]any{"versions": []any{map[string]any{
		"id": "v3.0", "status": "CURRENT", "version": Microversions.Max.String(), "min_version": Microversions.Min.String(),
		"updated": "2023-08-31T00:00:00Z",
		"links": []any{
			map[string]any{"rel": "describedby", "type": "text/html", "href": "https://docs.openstack.org/"},
			map[string]any{"rel": "self", "href": wire.BaseURL(r) + "/volume/v3/"},
		},
		"media-types": []any{map[string]any{"base": "application/json", "type": "application/vnd.openstack.volume+json;version=3"}},
	}}}
}

// versions answers GET /volume/ with 300 Multiple Choices, as Cinder does.
func (s *Service) versions(w http.ResponseWriter, r *http.Request) error {
	wire.WriteJSON(w, http.StatusMultipleChoices, versionList(r))
	return nil
}

// versionsV3 answers GET /volume/v3/ (the SDK's discovery) with 200.
func (s *Service) versionsV3(w http.ResponseWriter, r *http.Request) error {
	wire.WriteJSON(w, http.StatusOK, versionList(r))
	return nil
}

// listExtensions lists the API extensions Canopy's Cinder serves.
func (s *Service) listExtensions(w http.ResponseWriter, r *http.Request) error {
	ext := func(alias, name, desc string) map[string]any {
		return map[string]any{"alias": alias, "name": name, "description": desc, "links": []any{},
			"updated": "2013-01-01T00:00:00+00:00", "namespace": ""}
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"extensions": []any{
		ext("os-availability-zone", "AvailabilityZones", "Describe Availability Zones."),
		ext("os-hosts", "Hosts", "Admin-only host administration."),
		ext("os-extended-snapshot-attributes", "ExtendedSnapshotAttributes", "Extended SnapshotAttributes support."),
		ext("os-quota-sets", "Quotas", "Quota management support."),
		ext("os-types-manage", "TypesManage", "Types manage support."),
		ext("os-vol-tenant-attr", "VolumeTenantAttribute", "Expose the internal project_id as an attribute of a volume."),
		ext("os-volume-actions", "VolumeActions", "Enable volume actions."),
	}})
	return nil
}
