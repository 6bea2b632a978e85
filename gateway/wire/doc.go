// Package wire holds the helpers every OpenStack API service of the gateway
// shares: the authenticated principal in the request context, fault bodies in
// each service's dialect, strict JSON decoding, microversion negotiation,
// request ids and paging parameters.
//
// Faults are produced in exactly one place (Error → Fault via the table in
// faults.go), so every service answers bad input the way OpenStack does.
package wire
