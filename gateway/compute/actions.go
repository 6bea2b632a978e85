package compute

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/canopy-cloud/canopy/broker"
	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/proxies"
)

// unsupportedActions are Nova actions this cloud does not perform; they
// answer 501 rather than pretend.
var unsupportedActions = map[string]bool{
	"pause": true, "unpause": true,
	"suspend": true, "resume": true, "rescue": true, "unrescue": true, "shelve": true, "shelveOffload": true,
	"unshelve": true, "migrate": true, "os-migrateLive": true, "evacuate": true, "changePassword": true,
	"createBackup": true, "addFloatingIp": true, "removeFloatingIp": true, "os-getVNCConsole": true, "os-getSPICEConsole": true, "os-getSerialConsole": true,
	"os-getRDPConsole": true, "os-resetState": true, "injectNetworkInfo": true, "resetNetwork": true,
	"forceDelete": true, "restore": true, "trigger_crash_dump": true,
}

// serverAction answers POST /servers/{id}/action.
func (s *Service) serverAction(w http.ResponseWriter, r *http.Request, v wire.Version) error {
	if err := requireWriter(r); err != nil {
		return err
	}
	var body map[string]json.RawMessage
	if err := wire.DecodeJSON(r, &body, false); err != nil {
		return err
	}
	if len(body) != 1 {
		return wire.BadRequest("There is no such action: %s", strings.Join(keys(body), ","))
	}
	ctx, c, id := r.Context(), caller(r), r.PathValue("id")
	for name, arg := range body {
		switch name {
		case "os-start":
			return accepted(w, s.b.StartServer(ctx, c, id))
		case "os-stop":
			return accepted(w, s.b.StopServer(ctx, c, id))
		case "reboot":
			var a struct {
				Type string `json:"type"`
			}
			if err := strictArg("reboot", arg, &a); err != nil {
				return err
			}
			kind := proxies.RebootKind(strings.ToUpper(a.Type))
			if kind != proxies.RebootSoft && kind != proxies.RebootHard {
				return invalidField("type", a.Type, "'"+a.Type+"' is not one of ['HARD', 'Hard', 'hard', 'SOFT', 'Soft', 'soft']")
			}
			return accepted(w, s.b.RebootServer(ctx, c, id, kind))
		case "createImage":
			return s.createImage(w, r, v, arg)
		case "rebuild":
			return s.rebuild(w, r, v, arg)
		case "resize":
			return s.resize(w, r, arg)
		case "confirmResize":
			if err := s.b.ConfirmResize(ctx, c, id); err != nil {
				return err
			}
			w.WriteHeader(http.StatusNoContent)
			return nil
		case "addSecurityGroup", "removeSecurityGroup":
			return s.secGroupAction(w, r, name, arg)
		case "revertResize":
			return accepted(w, s.b.RevertResize(ctx, c, id))
		case "os-getConsoleOutput":
			var a struct {
				Length json.RawMessage `json:"length"`
			}
			if err := strictArg("os-getConsoleOutput", arg, &a); err != nil {
				return err
			}
			lines := 0
			if a.Length != nil && string(a.Length) != "null" {
				n, err := stringOrInt("length", a.Length)
				if err != nil {
					return err
				}
				if lines, err = atoiMin("length", n, -1); err != nil {
					return err
				}
			}
			out, err := s.b.ConsoleOutput(ctx, c, id, lines)
			if err != nil {
				return err
			}
			wire.WriteJSON(w, http.StatusOK, map[string]string{"output": out})
			return nil
		case "lock":
			var reason *string
			if v.AtLeast(2, 73) && string(arg) != "null" {
				var a struct {
					Reason *string `json:"locked_reason"`
				}
				if err := wire.DecodeBytes(arg, &a, true); err != nil {
					return err
				}
				if a.Reason != nil {
					switch n := utf8.RuneCountInString(*a.Reason); {
					case n < 1:
						return invalidField("locked_reason", "", "'' is too short")
					case n > 255:
						return invalidField("locked_reason", *a.Reason, "'"+*a.Reason+"' is too long")
					}
				}
				reason = a.Reason
			}
			return accepted(w, s.b.LockServer(ctx, c, id, reason))
		case "unlock":
			err := s.b.UnlockServer(ctx, c, id)
			if errors.Is(err, broker.ErrUnlockOverride) {
				return wire.Forbidden("Policy doesn't allow os_compute_api:os-lock-server:unlock:unlock_override to be performed.")
			}
			return accepted(w, err)
		}
		if _, err := s.b.GetServer(ctx, c, id); err != nil {
			return err
		}
		if unsupportedActions[name] {
			return wire.NotImplemented("The '%s' action is not supported by this cloud.", name)
		}
		return wire.BadRequest("There is no such action: %s", name)
	}
	return nil
}

func keys(m map[string]json.RawMessage) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func strictArg(action string, raw json.RawMessage, v any) error {
	if len(raw) == 0 || string(raw) == "null" {
		return invalidField(action, "None", "None is not of type 'object'")
	}
	return wire.DecodeBytes(raw, v, true)
}

func accepted(w http.ResponseWriter, err error) error {
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

func atoiMin(field, s string, minimum int) (int, error) {
	n := 0
	neg := strings.HasPrefix(s, "-")
	digits := strings.TrimPrefix(s, "-")
	if digits == "" {
		return 0, invalidField(field, s, "'"+s+"' is not a valid integer")
	}
	for _, ch := range digits {
		if ch < '0' || ch > '9' || n > 1<<30 {
			return 0, invalidField(field, s, "'"+s+"' is not a valid integer")
		}
		n = n*10 + int(ch-'0')
	}
	if neg {
		n = -n
	}
	if n < minimum {
		return 0, invalidField(field, s, s+" is less than the minimum")
	}
	return n, nil
}

// createImage answers the createImage action: 202 with the image's
// Location before 2.45, {"image_id"} from 2.45.
func (s *Service) createImage(w http.ResponseWriter, r *http.Request, v wire.Version, arg json.RawMessage) error {
	var a struct {
		Name     *string           `json:"name"`
		Metadata map[string]string `json:"metadata"`
	}
	if err := strictArg("createImage", arg, &a); err != nil {
		return err
	}
	if a.Name == nil {
		return wire.BadRequest("Invalid input for field/attribute createImage. 'name' is a required property")
	}
	if err := checkName("name", *a.Name); err != nil {
		return err
	}
	if err := checkMetadata("metadata", a.Metadata); err != nil {
		return err
	}
	imageID, err := s.b.CreateImage(r.Context(), caller(r), r.PathValue("id"), *a.Name, a.Metadata)
	if err != nil {
		return err
	}
	if v.AtLeast(2, 45) {
		wire.WriteJSON(w, http.StatusAccepted, map[string]string{"image_id": imageID})
		return nil
	}
	w.Header().Set("Location", wire.BaseURL(r)+"/image/v2/images/"+imageID)
	w.WriteHeader(http.StatusAccepted)
	return nil
}
