package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/grpc-ecosystem/grpc-gateway/v2/utilities"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/anonjob/anonjob/internal/apierr"
)

// checkRequest refuses, in the API's error shape and naming the field, what the gateway would
// otherwise answer with a bare parser message or, for text that is not UTF-8, a 500 from
// marshalling the gRPC request: path variables and query values that are not valid UTF-8, and
// query values that do not parse as their field's type. It also lower-cases boolean values,
// so True and TRUE mean true as the engine protocol writes them. Requests for no route pass
// untouched: the gateway answers them 404 or 405.
func checkRequest(routes []route, r *http.Request) error {
	path := r.URL.EscapedPath()
	for _, rt := range routes {
		vars, ok := rt.match(r.Method, path)
		if !ok {
			continue
		}
		for _, name := range sortedKeys(vars) {
			v, err := url.PathUnescape(vars[name])
			if err != nil || !utf8.ValidString(v) {
				return apierr.InvalidField(name, apierr.InvalidUTF8, "is not valid UTF-8 text")
			}
		}
		if rt.body == "*" {
			return nil // the whole request is the body: the gateway reads no query
		}
		return checkQuery(rt, vars, r)
	}
	return nil
}

func checkQuery(rt route, vars map[string]string, r *http.Request) error {
	if r.URL.RawQuery == "" {
		return nil
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return apierr.InvalidField("query", apierr.InvalidParameter, "is not a valid query string: "+err.Error())
	}
	// Fields bound by the path or the body are not read from the query.
	var bound [][]string
	for name := range vars {
		bound = append(bound, strings.Split(name, "."))
	}
	if rt.body != "" {
		bound = append(bound, strings.Split(rt.body, "."))
	}
	filter := utilities.NewDoubleArray(bound)
	changed := false
	for _, key := range sortedKeys(q) {
		values := q[key]
		if !utf8.ValidString(key) {
			return apierr.InvalidField("query", apierr.InvalidUTF8, "a parameter name is not valid UTF-8 text")
		}
		name, fd := fieldOf(rt.input, key)
		if fd == nil {
			continue // not a field: the gateway ignores it too
		}
		for _, v := range values {
			if !utf8.ValidString(v) {
				return apierr.InvalidField(name, apierr.InvalidUTF8, "is not valid UTF-8 text")
			}
		}
		if fd.Kind() == protoreflect.BoolKind {
			for i, v := range values {
				values[i] = strings.ToLower(v)
			}
			changed = true
		}
		if !fd.IsList() && len(values) > 1 {
			return apierr.InvalidField(name, apierr.InvalidParameter,
				fmt.Sprintf("is given %d times; give it once", len(values)))
		}
		for _, v := range values {
			if err := runtime.PopulateQueryParameters(rt.newInput(), url.Values{key: {v}}, filter); err != nil {
				return apierr.InvalidField(name, apierr.InvalidParameter, describe(fd, v, err))
			}
		}
	}
	if changed {
		r.URL.RawQuery = q.Encode()
	}
	return nil
}

// fieldOf resolves a query key (proto or JSON names, dotted for nested fields) to its field
// and the field's proto path, or nil when it names none.
func fieldOf(md protoreflect.MessageDescriptor, key string) (string, protoreflect.FieldDescriptor) {
	var path []string
	var fd protoreflect.FieldDescriptor
	for part := range strings.SplitSeq(key, ".") {
		if md == nil {
			return "", nil
		}
		fd = md.Fields().ByTextName(part)
		if fd == nil {
			fd = md.Fields().ByJSONName(part)
		}
		if fd == nil {
			return "", nil
		}
		path = append(path, string(fd.Name()))
		md = fd.Message()
	}
	return strings.Join(path, "."), fd
}

// describe says why v is not a value of fd, in the terms a client can act on.
func describe(fd protoreflect.FieldDescriptor, v string, err error) string {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return fmt.Sprintf("%q is not a boolean; use true or false", v)
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return intMessage(v, 32)
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return intMessage(v, 64)
	case protoreflect.EnumKind:
		return fmt.Sprintf("%q is not one of %s", v, strings.Join(enumNames(fd.Enum()), ", "))
	case protoreflect.MessageKind:
		if fd.Message().FullName() == "google.protobuf.Timestamp" {
			return fmt.Sprintf("%q is not an RFC 3339 time such as 2026-11-28T00:00:00Z", v)
		}
	}
	return fmt.Sprintf("%q: %v", v, err)
}

func intMessage(v string, bits int) string {
	_, err := strconv.ParseInt(v, 10, bits)
	if errors.Is(err, strconv.ErrRange) {
		return fmt.Sprintf("%s is out of range: it must be from %d to %d", v, int64(-1)<<(bits-1), int64(1)<<(bits-1)-1)
	}
	return fmt.Sprintf("%q is not an integer", v)
}

// enumNames lists an enum's values as the query accepts them: without the common prefix, in
// lower case, leaving out the unspecified zero.
func enumNames(ed protoreflect.EnumDescriptor) []string {
	vals := ed.Values()
	var names []string
	for i := range vals.Len() {
		if vals.Get(i).Number() != 0 {
			names = append(names, string(vals.Get(i).Name()))
		}
	}
	prefix := commonPrefix(names)
	for i, n := range names {
		names[i] = strings.ToLower(strings.TrimPrefix(n, prefix))
	}
	return names
}

func commonPrefix(names []string) string {
	if len(names) < 2 {
		return ""
	}
	p := names[0]
	for _, n := range names[1:] {
		for !strings.HasPrefix(n, p) {
			p = p[:len(p)-1]
		}
	}
	return p[:strings.LastIndexByte(p, '_')+1]
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
