package network

import (
	"fmt"
	"strings"

	"github.com/canopy-cloud/canopy/gateway/wire"
)

// Neutron's faults, each with the exception type name clients and tempest
// read from {"NeutronError": {"type": ...}}.

func badRequest(format string, args ...any) *wire.Error {
	return wire.BadRequest(format, args...).WithType("HTTPBadRequest")
}

func invalidInput(format string, args ...any) *wire.Error {
	return wire.BadRequest("Invalid input for operation: "+format, args...).WithType("InvalidInput")
}

func invalidAttr(attr, reason string, args ...any) *wire.Error {
	return badRequest("Invalid input for %s. Reason: %s", attr, fmt.Sprintf(reason, args...))
}

func notFound(kind, id string) *wire.Error {
	return wire.NotFound("%s %s could not be found.", kind, id).WithType(kind + "NotFound")
}

func networkNotFound(id string) *wire.Error { return notFound("Network", id) }
func subnetNotFound(id string) *wire.Error  { return notFound("Subnet", id) }
func portNotFound(id string) *wire.Error    { return notFound("Port", id) }

func policyDenied(rule string) *wire.Error {
	return wire.Forbidden("(rule:%s) is disallowed by policy", rule).WithType("PolicyNotAuthorized")
}

func conflict(typ, format string, args ...any) *wire.Error {
	return wire.Conflict(format, args...).WithType(typ)
}

func unrecognized(keys []string) *wire.Error {
	return badRequest("Unrecognized attribute(s) '%s'", strings.Join(keys, ", "))
}
