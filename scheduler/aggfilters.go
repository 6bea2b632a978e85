package scheduler

import (
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// aggregateSpecScope is the flavor extra-spec scope the
// AggregateInstanceExtraSpecsFilter reads (Nova's _SCOPE).
const aggregateSpecScope = "aggregate_instance_extra_specs"

// AggregateInstanceExtraSpecsFilter keeps hosts whose aggregates' metadata
// match the flavor's extra specs, like Nova's: every unscoped key and every
// "aggregate_instance_extra_specs:key" must be in the host's aggregate
// metadata with a value that matches (Nova's extra-spec operators: "=",
// "s==", "<in>", "<or>"...); keys of other scopes ("hw:", "quota:") are
// ignored.
type AggregateInstanceExtraSpecsFilter struct{}

// Name is Nova's filter name.
func (AggregateInstanceExtraSpecsFilter) Name() string { return "AggregateInstanceExtraSpecsFilter" }

// Pass reports whether h's aggregates satisfy the flavor's extra specs.
func (f AggregateInstanceExtraSpecsFilter) Pass(h HostState, req Request) bool {
	return f.pass(&h, &req)
}

func (AggregateInstanceExtraSpecsFilter) applies(req *Request) bool {
	return len(req.Flavor.ExtraSpecs) > 0
}

func (AggregateInstanceExtraSpecsFilter) pass(h *HostState, req *Request) bool {
	if len(req.Flavor.ExtraSpecs) == 0 {
		return true
	}
	var md map[string][]string
	if h.Aggregates != nil {
		md = h.Aggregates.Metadata
	}
	for key, want := range req.Flavor.ExtraSpecs {
		if scope, k, scoped := strings.Cut(key, ":"); scoped {
			if scope != aggregateSpecScope {
				continue
			}
			key = k
		}
		if !anyMatches(md[key], want) {
			return false
		}
	}
	return true
}

// anyMatches reports whether one of an aggregate key's values satisfies
// the requirement (false when the key has none).
func anyMatches(vals []string, want string) bool {
	for _, v := range vals {
		if MatchExtraSpec(v, want) {
			return true
		}
	}
	return false
}

// MatchExtraSpec is Nova's extra_specs_ops.match: does the host's value
// satisfy the flavor's requirement req? req is a plain value (string
// equality) or an operator followed by operands: "=" (numeric >=), "==",
// "!=", ">=", "<=", "s==", "s!=", "s<", "s<=", "s>", "s>=", "<in>"
// (substring), "<all-in>" (every word a substring) or "<or> a <or> b".
func MatchExtraSpec(value, req string) bool {
	if strings.IndexFunc(req, unicode.IsSpace) < 0 { // one word: a plain value, or an operator without operands
		if extraSpecOps[req] {
			return false
		}
		return value == req
	}
	words := strings.Fields(req)
	op, args := words[0], words[1:]
	if op == "<or>" {
		for i := 0; i < len(args); i += 2 {
			if args[i] == value {
				return true
			}
		}
		return false
	}
	num := func(cmp func(a, b float64) bool) bool {
		if len(args) == 0 {
			return false
		}
		a, err1 := strconv.ParseFloat(value, 64)
		b, err2 := strconv.ParseFloat(args[0], 64)
		return err1 == nil && err2 == nil && cmp(a, b)
	}
	str := func(cmp func(a, b string) bool) bool { return len(args) > 0 && cmp(value, args[0]) }
	switch op {
	case "=", ">=":
		return num(func(a, b float64) bool { return a >= b })
	case "==":
		return num(func(a, b float64) bool { return a == b })
	case "!=":
		return num(func(a, b float64) bool { return a != b })
	case "<=":
		return num(func(a, b float64) bool { return a <= b })
	case "s==":
		return str(func(a, b string) bool { return a == b })
	case "s!=":
		return str(func(a, b string) bool { return a != b })
	case "s<":
		return str(func(a, b string) bool { return a < b })
	case "s<=":
		return str(func(a, b string) bool { return a <= b })
	case "s>":
		return str(func(a, b string) bool { return a > b })
	case "s>=":
		return str(func(a, b string) bool { return a >= b })
	case "<in>":
		return str(strings.Contains)
	case "<all-in>":
		if len(args) == 0 {
			return false
		}
		for _, w := range args {
			if !strings.Contains(value, w) {
				return false
			}
		}
		return true
	}
	return value == req
}

// extraSpecOps are the operators MatchExtraSpec knows.
var extraSpecOps = map[string]bool{"=": true, "==": true, "!=": true, ">=": true, "<=": true, "s==": true, "s!=": true,
	"s<": true, "s<=": true, "s>": true, "s>=": true, "<in>": true, "<all-in>": true, "<or>": true}

// AggregateMultiTenancyIsolation keeps a host reserved by its aggregates'
// filter_tenant_id* metadata for the listed projects only, like Nova's;
// hosts without such metadata take any project.
type AggregateMultiTenancyIsolation struct{}

// Name is Nova's filter name.
func (AggregateMultiTenancyIsolation) Name() string { return "AggregateMultiTenancyIsolation" }

// Pass reports whether req's project may use h.
func (f AggregateMultiTenancyIsolation) Pass(h HostState, req Request) bool { return f.pass(&h, &req) }

func (AggregateMultiTenancyIsolation) pass(h *HostState, req *Request) bool {
	return h.Aggregates == nil || h.Aggregates.TenantIDs == nil || slices.Contains(h.Aggregates.TenantIDs, req.ProjectID)
}

// hostRatios are the allocation ratios that apply on h: its aggregates'
// (cpu/ram/disk_allocation_ratio metadata) where set, else cpu, ram, disk.
func hostRatios(h *HostState, cpu, ram, disk float64) (float64, float64, float64) {
	if a := h.Aggregates; a != nil {
		return orDefault(a.CPURatio, cpu), orDefault(a.RAMRatio, ram), orDefault(a.DiskRatio, disk)
	}
	return cpu, ram, disk
}
