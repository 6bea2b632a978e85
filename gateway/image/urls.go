package image

// Every route of the Glance API in one place. The catalog URL is
// <public>/image; clients append v2. Links inside bodies are relative to the
// catalog URL ("/v2/images/<id>"), exactly as Glance writes them.
const (
	prefix             = "/image"
	routeRoot          = "GET " + prefix
	routeRootSlash     = "GET " + prefix + "/{$}"
	routeV2            = "GET " + prefix + "/v2"
	routeV2Slash       = "GET " + prefix + "/v2/{$}"
	routeSchemaImage   = "GET " + prefix + "/v2/schemas/image"
	routeSchemaImages  = "GET " + prefix + "/v2/schemas/images"
	routeImages        = prefix + "/v2/images"
	routeImage         = prefix + "/v2/images/{id}"
	routeImageFile     = prefix + "/v2/images/{id}/file"
	routeImageTag      = prefix + "/v2/images/{id}/tags/{tag}"
	routeSchemaMember  = "GET " + prefix + "/v2/schemas/member"
	routeSchemaMembers = "GET " + prefix + "/v2/schemas/members"
	routeMembers       = prefix + "/v2/images/{id}/members"
	routeMember        = prefix + "/v2/images/{id}/members/{member}"
	routeDeactivate    = "POST " + prefix + "/v2/images/{id}/actions/deactivate"
	routeReactivate    = "POST " + prefix + "/v2/images/{id}/actions/reactivate"
	routeStage         = "PUT " + prefix + "/v2/images/{id}/stage"
	routeImport        = "POST " + prefix + "/v2/images/{id}/import"
	routeInfoImport    = "GET " + prefix + "/v2/info/import"
	routeInfoStores    = "GET " + prefix + "/v2/info/stores"
	routeImageTasks    = "GET " + prefix + "/v2/images/{id}/tasks"
	routeTasks         = prefix + "/v2/tasks"
	routeTask          = "GET " + prefix + "/v2/tasks/{id}"
	routeSchemaTask    = "GET " + prefix + "/v2/schemas/task"
	routeSchemaTasks   = "GET " + prefix + "/v2/schemas/tasks"
)

func selfLink(id string) string { return "/v2/images/" + id }
func fileLink(id string) string { return "/v2/images/" + id + "/file" }

const (
	imageSchemaLink   = "/v2/schemas/image"
	imagesSchemaLink  = "/v2/schemas/images"
	imagesLink        = "/v2/images"
	memberSchemaLink  = "/v2/schemas/member"
	membersSchemaLink = "/v2/schemas/members"
)
