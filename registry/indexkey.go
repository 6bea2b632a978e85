package registry

// IndexKey is the key of the sorted set that indexes a project's records of
// kind (its ZCARD is Count). Packages that keep quota reservations next to
// a kind's records read it inside their own Lua scripts, so that the count
// and the reservation are one atomic step in the project's slot.
func IndexKey(project string, kind Kind) string {
	if project == "" {
		project = Global
	}
	return idxKey(project, kind)
}
