package httpapi

import (
	"net/http"
	"strings"

	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"

	anonjobv1 "github.com/anonjob/anonjob/gen/anonjob/v1"
)

// route is one REST binding of an RPC, read from its google.api.http option: what the gateway
// will parse a request into, so a request can be checked before the gateway sees it.
type route struct {
	method string   // HTTP method
	segs   []string // path segments; "{name}" binds a field
	verb   string   // the custom method after ':', or ""
	input  protoreflect.MessageDescriptor
	body   string // the body field, "*" for all, "" for none
}

// apiRoutes reads the bindings of every service the gateway serves.
func apiRoutes() []route {
	var out []route
	for _, fd := range []protoreflect.FileDescriptor{
		anonjobv1.File_anonjob_v1_job_service_proto,
		anonjobv1.File_anonjob_v1_webhook_service_proto,
		anonjobv1.File_anonjob_v1_delivery_service_proto,
	} {
		svcs := fd.Services()
		for i := range svcs.Len() {
			ms := svcs.Get(i).Methods()
			for j := range ms.Len() {
				if r, ok := routeOf(ms.Get(j)); ok {
					out = append(out, r)
				}
			}
		}
	}
	return out
}

func routeOf(m protoreflect.MethodDescriptor) (route, bool) {
	rule, _ := proto.GetExtension(m.Options(), annotations.E_Http).(*annotations.HttpRule)
	if rule == nil {
		return route{}, false
	}
	r := route{input: m.Input(), body: rule.GetBody()}
	var tmpl string
	switch p := rule.GetPattern().(type) {
	case *annotations.HttpRule_Get:
		r.method, tmpl = http.MethodGet, p.Get
	case *annotations.HttpRule_Post:
		r.method, tmpl = http.MethodPost, p.Post
	case *annotations.HttpRule_Put:
		r.method, tmpl = http.MethodPut, p.Put
	case *annotations.HttpRule_Patch:
		r.method, tmpl = http.MethodPatch, p.Patch
	case *annotations.HttpRule_Delete:
		r.method, tmpl = http.MethodDelete, p.Delete
	default:
		return route{}, false
	}
	r.segs = strings.Split(strings.TrimPrefix(tmpl, "/"), "/")
	last := r.segs[len(r.segs)-1]
	// A verb follows the last segment, after a variable's closing brace if there is one.
	if i := strings.LastIndexByte(last, ':'); i > strings.LastIndexByte(last, '}') {
		r.segs[len(r.segs)-1], r.verb = last[:i], last[i+1:]
	}
	return r, true
}

// match returns the escaped value of each path variable when the request is this route's.
func (r route) match(method, escapedPath string) (map[string]string, bool) {
	if method != r.method {
		return nil, false
	}
	segs := strings.Split(strings.TrimPrefix(escapedPath, "/"), "/")
	if len(segs) != len(r.segs) {
		return nil, false
	}
	if r.verb != "" {
		last, ok := strings.CutSuffix(segs[len(segs)-1], ":"+r.verb)
		if !ok {
			return nil, false
		}
		segs[len(segs)-1] = last
	}
	vars := map[string]string{}
	for i, s := range r.segs {
		if name, ok := strings.CutPrefix(s, "{"); ok {
			vars[strings.TrimSuffix(name, "}")] = segs[i]
			continue
		}
		if s != segs[i] {
			return nil, false
		}
	}
	return vars, true
}

// newInput is an empty request message of the route, to parse query values into.
func (r route) newInput() proto.Message {
	if mt, err := protoregistry.GlobalTypes.FindMessageByName(r.input.FullName()); err == nil {
		return mt.New().Interface()
	}
	return dynamicpb.NewMessage(r.input)
}
