package image

import (
	"fmt"
	"net/http"

	"github.com/canopy-cloud/canopy/gateway/wire"
)

// listVersions answers the unauthenticated discovery openstackclient needs
// on nearly every command: 300 with v2.16 CURRENT down to v2.0 SUPPORTED.
func (s *Service) listVersions(w http.ResponseWriter, r *http.Request) error {
	href := wire.BaseURL(r) + prefix + "/v2/"
	var vs []any
	for minor := 16; minor >= 0; minor-- {
		status := "SUPPORTED"
		if minor == 16 {
			status = "CURRENT"
		}
		vs = append(vs, map[string]any{
			"id": fmt.Sprintf("v2.%d", minor), "status": status,
			"links": []any{map[string]string{"rel": "self", "href": href}},
		})
	}
	wire.WriteJSON(w, http.StatusMultipleChoices, map[string]any{"versions": vs})
	return nil
}
