package compute

import (
	"encoding/base64"
	"net/netip"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/canopy-cloud/canopy/gateway/wire"
)

// Nova's JSON-schema faults name the field and the value; these helpers
// produce the same text.

func invalidField(field, value, reason string) error {
	return wire.BadRequest("Invalid input for field/attribute %s. Value: %s. %s", field, value, reason)
}

// checkName is Nova's parameter_types.name: 1-255 characters, printable,
// no leading or trailing whitespace.
func checkName(field, name string) error {
	n := utf8.RuneCountInString(name)
	switch {
	case n == 0:
		return invalidField(field, name, "'' is too short")
	case n > 255:
		return invalidField(field, name, "'"+name+"' is too long")
	case !utf8.ValidString(name):
		return invalidField(field, name, "'"+name+"' is not valid UTF-8")
	}
	r0, _ := utf8.DecodeRuneInString(name)
	r1, _ := utf8.DecodeLastRuneInString(name)
	if unicode.IsSpace(r0) || unicode.IsSpace(r1) {
		return invalidField(field, name, "'"+name+"' does not match '^(?! )[[:print:]]+(?<! )$'")
	}
	for _, r := range name {
		if !unicode.IsPrint(r) && r != ' ' {
			return invalidField(field, name, "'"+name+"' does not match '^(?! )[[:print:]]+(?<! )$'")
		}
	}
	return nil
}

func checkDescription(d string) error {
	if utf8.RuneCountInString(d) > 255 {
		return invalidField("description", d, "'"+d+"' is too long")
	}
	return nil
}

// checkIP checks an access address ("" clears it, as Nova allows).
func checkIP(field, s string, version int) error {
	if s == "" {
		return nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || (version == 4 && !a.Is4()) || (version == 6 && !a.Is6()) {
		return invalidField(field, s, "'"+s+"' is not a 'ipv"+string(rune('0'+version))+"'")
	}
	return nil
}

var uuidRe = regexp.MustCompile(`^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$`)

func isUUID(s string) bool { return uuidRe.MatchString(s) }

// checkMetadata is Nova's metadata schema: keys 1-255, values 0-255,
// strings only (the decoder enforces the type).
func checkMetadata(field string, md map[string]string) error {
	for k, v := range md {
		if k == "" || utf8.RuneCountInString(k) > 255 {
			return invalidField(field, k, "Additional properties are not allowed ('"+k+"' was unexpected)")
		}
		if utf8.RuneCountInString(v) > 255 {
			return invalidField(field, v, "'"+v+"' is too long")
		}
	}
	return nil
}

func checkUserData(s string) error {
	if len(s) > 65535 {
		return invalidField("user_data", s[:32]+"...", "is too long")
	}
	if _, err := base64.StdEncoding.DecodeString(s); err != nil {
		return invalidField("user_data", s, "'"+s+"' is not a 'base64'")
	}
	return nil
}

// checkTag is Nova's tag schema: 1-60 characters, no comma or slash.
func checkTag(t string) error {
	n := utf8.RuneCountInString(t)
	if n == 0 || n > 60 || strings.ContainsAny(t, ",/") {
		return invalidField("tags", t, "'"+t+"' does not match '^[^,/]*$' or is not 1-60 characters")
	}
	return nil
}
