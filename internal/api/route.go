package api

import (
	"net/http"

	"github.com/curfew/curfew/internal/curfew"
)

// A Route is one operation of the API: the mux is built from the list
// Routes returns, and a test holds the OpenAPI document to it, route by
// route, with each route's request and response types.
type Route struct {
	Method string
	Path   string    // a net/http pattern path, such as /api/v1/restrictions/{id}
	Op     curfew.Op // the operation whose role it needs; empty for a route without a token
	Status int       // the status of a successful answer
	// Request and Response are zero values of the wire types of the body
	// it reads and the one it answers (a slice for a list); nil for none.
	Request  any
	Response any
}

// route is a Route with the handler that serves it.
type route struct {
	Route
	serve http.HandlerFunc
}

// Routes returns every route the API serves.
func Routes() []Route {
	var out []Route
	for _, rt := range (&handler{}).routes() {
		out = append(out, rt.Route)
	}
	return out
}

// routes is the one route table: every route the handler serves, one line
// each, with the operation whose role each needs.
func (h *handler) routes() []route {
	const ok, created = http.StatusOK, http.StatusCreated
	r := func(method, path string, op curfew.Op, status int, req, resp any, serve http.HandlerFunc) route {
		return route{Route{Method: method, Path: path, Op: op, Status: status, Request: req, Response: resp}, serve}
	}
	return []route{
		r("GET", "/api/v1/health", "", ok, nil, map[string]string{}, h.health),
		r("GET", "/api/v1/openapi.json", "", ok, nil, nil, serveOpenAPI),

		r("POST", "/api/v1/restrictions", curfew.OpRestrict, created, RestrictRequest{}, Restriction{}, h.createRestriction),
		r("GET", "/api/v1/restrictions", curfew.OpRead, ok, nil, []Restriction{}, h.listRestrictions),
		r("GET", "/api/v1/restrictions/{id}", curfew.OpRead, ok, nil, Restriction{}, h.getRestriction),
		r("POST", "/api/v1/restrictions/{id}/lift", curfew.OpLift, ok, LiftRequest{}, Restriction{}, h.liftRestriction),
		r("POST", "/api/v1/restrictions/{id}/extend", curfew.OpExtend, ok, ExtendRequest{}, Restriction{}, h.extendRestriction),
		r("POST", "/api/v1/restrictions/{id}/approve", curfew.OpApprove, ok, ApproveRequest{}, Restriction{}, h.approveRestriction),
		r("POST", "/api/v1/restrictions/{id}/reject", curfew.OpReject, ok, RejectRequest{}, Restriction{}, h.rejectRestriction),
		r("POST", "/api/v1/schedules", curfew.OpAddSchedule, created, ScheduleRequest{}, Schedule{}, h.createSchedule),
		r("GET", "/api/v1/schedules", curfew.OpRead, ok, nil, []Schedule{}, h.listSchedules),
		r("POST", "/api/v1/schedules/{id}/remove", curfew.OpRemoveSchedule, ok, RemoveScheduleRequest{}, Schedule{}, h.removeSchedule),
		r("POST", "/api/v1/devices", curfew.OpAddDevice, created, DeviceRequest{}, Device{}, h.createDevice),
		r("GET", "/api/v1/devices", curfew.OpRead, ok, nil, []Device{}, h.listDevices),
		r("GET", "/api/v1/devices/search", curfew.OpRead, ok, nil, DevicePage{}, h.findDevices),
		r("GET", "/api/v1/devices/seen", curfew.OpRead, ok, nil, []SeenDevice{}, h.listSeenDevices),
		r("POST", "/api/v1/devices/{mac}/approve", curfew.OpApproveDevice, created, ApproveDeviceRequest{}, Device{}, h.approveDevice),
		r("POST", "/api/v1/devices/{mac}/remove", curfew.OpRemoveDevice, ok, RemoveRequest{}, Device{}, h.removeDevice),
		r("POST", "/api/v1/persons", curfew.OpAddPerson, created, PersonRequest{}, Person{}, h.createPerson),
		r("GET", "/api/v1/persons", curfew.OpRead, ok, nil, []Person{}, h.listPersons),
		r("GET", "/api/v1/persons/search", curfew.OpRead, ok, nil, PersonPage{}, h.findPersons),
		r("POST", "/api/v1/persons/{name}/remove", curfew.OpRemovePerson, ok, RemoveRequest{}, Person{}, h.removePerson),
		r("POST", "/api/v1/groups", curfew.OpAddGroup, created, GroupRequest{}, Group{}, h.createGroup),
		r("GET", "/api/v1/groups", curfew.OpRead, ok, nil, []Group{}, h.listGroups),
		r("POST", "/api/v1/groups/{name}/members", curfew.OpGroupMember, ok, GroupMemberRequest{}, Group{}, h.addGroupMember),
		r("POST", "/api/v1/groups/{name}/members/remove", curfew.OpGroupMember, ok, GroupMemberRequest{}, Group{}, h.removeGroupMember),
		r("GET", "/api/v1/audit", curfew.OpRead, ok, nil, []AuditEntry{}, h.listAudit),
		r("GET", "/api/v1/audit/verify", curfew.OpRead, ok, nil, AuditReport{}, h.verifyAudit),
		r("GET", "/api/v1/audit/export", curfew.OpRead, ok, nil, nil, h.exportAudit),
		r("GET", "/api/v1/audit/key", curfew.OpRead, ok, nil, AuditKeyResponse{}, h.auditKey),
		r("GET", "/api/v1/audit/checkpoint", curfew.OpRead, ok, nil, Checkpoint{}, h.getAuditCheckpoint),
		r("GET", "/api/v1/report", curfew.OpRead, ok, nil, Report{}, h.getReport),
		r("POST", "/api/v1/tokens", curfew.OpCreateToken, created, TokenRequest{}, TokenResponse{}, h.createToken),
		r("GET", "/api/v1/tokens", curfew.OpRead, ok, nil, []Token{}, h.listTokens),
		r("POST", "/api/v1/tokens/{name}/revoke", curfew.OpRevokeToken, ok, nil, Token{}, h.revokeToken),
		r("POST", "/api/v1/operators", curfew.OpAddOperator, created, OperatorRequest{}, OperatorCreated{}, h.createOperator),
		r("GET", "/api/v1/operators", curfew.OpRead, ok, nil, []Operator{}, h.listOperators),
		r("POST", "/api/v1/operators/{name}/disable", curfew.OpDisableOperator, ok, DisableRequest{}, Operator{}, h.disableOperator),
		r("POST", "/api/v1/operators/{name}/password", curfew.OpResetPassword, ok, nil, PasswordResponse{}, h.resetPassword),
		r("GET", "/api/v1/appeals", curfew.OpRead, ok, nil, []Appeal{}, h.listAppeals),
		r("POST", "/api/v1/appeals/{id}/answer", curfew.OpAnswer, ok, AnswerRequest{}, Appeal{}, h.answerAppeal),
		r("GET", "/api/v1/dns/queries", curfew.OpRead, ok, nil, DNSLogResponse{}, h.listDNSQueries),
	}
}
