package image

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/registry"
)

// kindImageMembers is the registry kind of an image's member list: one
// record per shared image, under the image record's project and keyed by the
// image id. Statuses live here rather than in registry.Image.Members so that
// adding a member or changing a status is one compare-and-set on one record.
const kindImageMembers registry.Kind = "imagemembers"

// Member statuses, as Glance names them.
var memberStatuses = []string{"pending", "accepted", "rejected"}

// imageMemberQuota is Glance's image_member_quota default.
const imageMemberQuota = 128

// member is one project an image is shared with.
type member struct {
	MemberID string    `json:"member_id"`
	Status   string    `json:"status"`
	Created  time.Time `json:"created_at"`
	Updated  time.Time `json:"updated_at"`
}

// memberList is the record of an image's members.
type memberList struct {
	ImageID string   `json:"image_id"`
	Members []member `json:"members"`
}

func (l *memberList) find(project string) int {
	return slices.IndexFunc(l.Members, func(m member) bool { return m.MemberID == project })
}

// memberStatus returns project's member status on image id ("" when it is
// no member).
func (s *Service) memberStatus(ctx context.Context, imageProject, id, project string) (string, error) {
	l, err := s.members.Get(ctx, imageProject, id)
	if errors.Is(err, registry.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	if i := l.find(project); i >= 0 {
		return l.Members[i].Status, nil
	}
	return "", nil
}

// memberStatuses returns project's member status on each image of ids that
// has a member list (one registry round trip for the whole page).
func (s *Service) memberStatusesOf(ctx context.Context, ids []string, project string) (map[string]string, error) {
	out := map[string]string{}
	if len(ids) == 0 {
		return out, nil
	}
	lists, err := s.members.GetMany(ctx, "*", ids)
	if err != nil {
		return nil, err
	}
	for _, l := range lists {
		if i := l.find(project); i >= 0 {
			out[l.ImageID] = l.Members[i].Status
		}
	}
	return out, nil
}

func renderMember(imageID string, m member) map[string]any {
	return map[string]any{"member_id": m.MemberID, "image_id": imageID, "status": m.Status,
		"created_at": stamp(m.Created), "updated_at": stamp(m.Updated), "schema": memberSchemaLink}
}

// sharedImage reads an image for the members API: 404 when the caller cannot
// see it, 403 when it is not shared (Glance: "Only shared images have
// members.").
func (s *Service) sharedImage(r *http.Request, action string) (*registry.Image, string, error) {
	ctx := r.Context()
	img, project, err := s.image(ctx, wire.PrincipalFrom(ctx), r.PathValue("id"))
	if err != nil {
		return nil, "", err
	}
	if img.Visibility != "shared" {
		return nil, "", wire.Forbidden("Not allowed to %s members for image %s: Only shared images have members.", action, img.ID)
	}
	return img, project, nil
}

// createMember is POST /v2/images/{id}/members {"member": "<project>"}: the
// owner (or an admin) shares the image; the member starts as pending.
func (s *Service) createMember(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := wire.PrincipalFrom(ctx)
	var body map[string]json.RawMessage
	if err := wire.DecodeJSON(r, &body, false); err != nil {
		return err
	}
	raw, ok := body["member"]
	if !ok {
		return wire.BadRequest("Member to be added not specified")
	}
	var memberID string
	if json.Unmarshal(raw, &memberID) != nil {
		return wire.BadRequest(`Expected a member in the form: {"member": "image_id"}`)
	}
	if memberID == "" {
		return wire.BadRequest("Member can't be empty")
	}
	if len(memberID) > 255 {
		return wire.BadRequest("Member id is too long: at most 255 characters.")
	}
	img, project, err := s.sharedImage(r, "create")
	if err != nil {
		return err
	}
	if !canModify(p, img) {
		return wire.Forbidden("Not allowed to create members for image %s.", img.ID)
	}
	now := s.now()
	added := member{MemberID: memberID, Status: "pending", Created: now, Updated: now}
	fresh := &memberList{ImageID: img.ID, Members: []member{added}}
	err = s.members.Create(ctx, project, img.ID, now, fresh)
	if errors.Is(err, registry.ErrExists) {
		_, err = s.members.Update(ctx, project, img.ID, func(cur *memberList) error {
			if cur.find(memberID) >= 0 {
				return wire.Conflict("Member %s is duplicated for image %s", memberID, img.ID)
			}
			if len(cur.Members) >= imageMemberQuota {
				return wire.Errorf(http.StatusRequestEntityTooLarge,
					"Image member limit exceeded for image %s: The limit has been exceeded on the number of allowed image members for this image. Attempted: %d, Maximum: %d",
					img.ID, len(cur.Members)+1, imageMemberQuota)
			}
			cur.Members = append(cur.Members, added)
			return nil
		})
	}
	if err != nil {
		return err
	}
	wire.WriteJSON(w, http.StatusOK, renderMember(img.ID, added))
	return nil
}

// listMembers is GET /v2/images/{id}/members: the owner sees every member, a
// member sees only itself.
func (s *Service) listMembers(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := wire.PrincipalFrom(ctx)
	img, project, err := s.sharedImage(r, "list")
	if err != nil {
		return err
	}
	l, err := s.members.Get(ctx, project, img.ID)
	if err != nil && !errors.Is(err, registry.ErrNotFound) {
		return err
	}
	out := []map[string]any{}
	if l != nil {
		for _, m := range l.Members {
			if p.IsAdmin() || isOwner(p, img) || m.MemberID == p.ProjectID {
				out = append(out, renderMember(img.ID, m))
			}
		}
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"members": out, "schema": membersSchemaLink})
	return nil
}

// lookupMember finds member {member} of a shared image the caller can see;
// the owner sees every member, a member only itself (others are 404).
func (s *Service) lookupMember(r *http.Request, action string) (*registry.Image, string, member, error) {
	p := wire.PrincipalFrom(r.Context())
	img, project, err := s.sharedImage(r, action)
	if err != nil {
		return nil, "", member{}, err
	}
	memberID := r.PathValue("member")
	notFound := wire.NotFound("%s not found in the member list of the image %s.", memberID, img.ID)
	if !p.IsAdmin() && !isOwner(p, img) && memberID != p.ProjectID {
		return nil, "", member{}, notFound
	}
	l, err := s.members.Get(r.Context(), project, img.ID)
	if errors.Is(err, registry.ErrNotFound) {
		return nil, "", member{}, notFound
	}
	if err != nil {
		return nil, "", member{}, err
	}
	i := l.find(memberID)
	if i < 0 {
		return nil, "", member{}, notFound
	}
	return img, project, l.Members[i], nil
}

// showMember is GET /v2/images/{id}/members/{member}. Glance hides a
// non-shared image's members as 404 rather than 403.
func (s *Service) showMember(w http.ResponseWriter, r *http.Request) error {
	img, _, m, err := s.lookupMember(r, "show")
	var we *wire.Error
	if errors.As(err, &we) && we.Status == http.StatusForbidden {
		return wire.NotFound("%s", we.Message)
	}
	if err != nil {
		return err
	}
	wire.WriteJSON(w, http.StatusOK, renderMember(img.ID, m))
	return nil
}

// updateMember is PUT /v2/images/{id}/members/{member} {"status": ...}: only
// the member itself (or an admin) accepts or rejects; the owner gets 403.
func (s *Service) updateMember(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := wire.PrincipalFrom(ctx)
	var body map[string]json.RawMessage
	if err := wire.DecodeJSON(r, &body, false); err != nil {
		return err
	}
	raw, ok := body["status"]
	if !ok {
		return wire.BadRequest("Status not specified")
	}
	img, project, m, err := s.lookupMember(r, "update")
	if err != nil {
		return err
	}
	if !p.IsAdmin() && (m.MemberID != p.ProjectID || !p.CanWrite()) {
		return wire.Forbidden("Not allowed to update members for image %s.", img.ID)
	}
	var status string
	if json.Unmarshal(raw, &status) != nil || !slices.Contains(memberStatuses, status) {
		return wire.BadRequest(`Incorrect request: Status must be "pending", "accepted" or "rejected".`)
	}
	var updated member
	_, err = s.members.Update(ctx, project, img.ID, func(cur *memberList) error {
		i := cur.find(m.MemberID)
		if i < 0 {
			return wire.NotFound("%s not found in the member list of the image %s.", m.MemberID, img.ID)
		}
		if cur.Members[i].Status != status {
			cur.Members[i].Status, cur.Members[i].Updated = status, s.now()
		}
		updated = cur.Members[i]
		return nil
	})
	if errors.Is(err, registry.ErrNotFound) {
		return wire.NotFound("%s not found in the member list of the image %s.", m.MemberID, img.ID)
	}
	if err != nil {
		return err
	}
	wire.WriteJSON(w, http.StatusOK, renderMember(img.ID, updated))
	return nil
}

// deleteMember is DELETE /v2/images/{id}/members/{member}: the owner (or an
// admin) stops sharing; a member cannot remove itself (403).
func (s *Service) deleteMember(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := wire.PrincipalFrom(ctx)
	img, project, m, err := s.lookupMember(r, "delete")
	if err != nil {
		return err
	}
	if !canModify(p, img) {
		return wire.Forbidden("Not allowed to delete members for image %s.", img.ID)
	}
	_, err = s.members.Update(ctx, project, img.ID, func(cur *memberList) error {
		cur.Members = slices.DeleteFunc(cur.Members, func(x member) bool { return x.MemberID == m.MemberID })
		return nil
	})
	if err != nil && !errors.Is(err, registry.ErrNotFound) {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
