package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// MaxBodyBytes is the default limit of a request body (image uploads have
// their own path and limit).
const MaxBodyBytes = 1 << 20

// DecodeJSON reads r's body into v. With strict set, unknown fields are
// rejected (Nova's additionalProperties: false). Errors are 400 faults that
// name the problem.
func DecodeJSON(r *http.Request, v any, strict bool) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if err != nil {
		return BadRequest("could not read the request body")
	}
	if len(body) > MaxBodyBytes {
		return Errorf(http.StatusRequestEntityTooLarge, "Request is too large.")
	}
	return DecodeBytes(body, v, strict)
}

// DecodeBytes decodes one JSON document from body into v.
func DecodeBytes(body []byte, v any, strict bool) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return BadRequest("The request body is empty; a JSON object is required.")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		return BadRequest("%s", describeJSONError(err))
	}
	if dec.More() {
		return BadRequest("Malformed request body: more than one JSON document.")
	}
	return nil
}

func describeJSONError(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("Malformed request body: invalid JSON at offset %d.", syn.Offset)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "body"
		}
		return fmt.Sprintf("Invalid input for field/attribute %s. Value: %s. %s is not of type %s.", field, typ.Value, typ.Value, jsonTypeName(typ.Type.Kind().String()))
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "Malformed request body: unexpected end of JSON."
	}
	msg := err.Error()
	if strings.HasPrefix(msg, "json: unknown field ") {
		return "Additional properties are not allowed (" + strings.TrimPrefix(msg, "json: unknown field ") + " was unexpected)"
	}
	return "Malformed request body: " + strings.TrimPrefix(msg, "json: ")
}

func jsonTypeName(kind string) string {
	switch kind {
	case "string":
		return "'string'"
	case "int", "int64", "int32", "float64", "uint", "uint64":
		return "'integer'"
	case "bool":
		return "'boolean'"
	case "map", "struct":
		return "'object'"
	case "slice", "array":
		return "'array'"
	}
	return "'" + kind + "'"
}
