package service

import (
	"context"
	"strings"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/anonjob/anonjob/internal/apierr"
)

// A request whose string fields are not valid UTF-8 cannot be unmarshalled, and gRPC reports
// a failed unmarshal as INTERNAL before any interceptor runs. So the codec decodes such a
// request with the bad text replaced, and leaves a note naming the field in the message's
// unknown fields; the interceptors below refuse a noted request with INVALID_ARGUMENT.

// noteField is the field number of the note: the largest there is, which no API message uses.
const noteField protowire.Number = protowire.MaxValidNumber

// unmarshalInvalidUTF8 decodes data into m with invalid UTF-8 replaced and notes the first
// field that had it. It reports false when data has no such field (the error was another).
func unmarshalInvalidUTF8(data []byte, m proto.Message) bool {
	fixed, field := sanitize(data, m.ProtoReflect().Descriptor(), "")
	if field == "" {
		return false
	}
	if err := proto.Unmarshal(fixed, m); err != nil {
		return false
	}
	note := protowire.AppendTag(nil, noteField, protowire.BytesType)
	note = protowire.AppendString(note, field)
	m.ProtoReflect().SetUnknown(append(m.ProtoReflect().GetUnknown(), note...))
	return true
}

// sanitize re-encodes a message with every string field made valid UTF-8 and returns the path
// of the first one that was not, or "" (and data unchanged) when all were.
func sanitize(data []byte, md protoreflect.MessageDescriptor, prefix string) ([]byte, string) {
	var out []byte
	first := ""
	for len(data) > 0 {
		num, typ, n := protowire.ConsumeTag(data)
		if n < 0 {
			return data, ""
		}
		m := protowire.ConsumeFieldValue(num, typ, data[n:])
		if m < 0 {
			return data, ""
		}
		whole := data[:n+m]
		data = data[n+m:]
		fd := md.Fields().ByNumber(num)
		if typ != protowire.BytesType || fd == nil {
			out = append(out, whole...)
			continue
		}
		val, _ := protowire.ConsumeBytes(whole[n:])
		path := prefix + string(fd.Name())
		switch {
		case fd.Kind() == protoreflect.StringKind && !utf8.Valid(val):
			if first == "" {
				first = path
			}
			val = []byte(strings.ToValidUTF8(string(val), "\uFFFD"))
		case fd.Kind() == protoreflect.MessageKind:
			fixed, inner := sanitize(val, fd.Message(), path+".")
			if inner == "" {
				out = append(out, whole...)
				continue
			}
			if first == "" {
				first = inner
			}
			val = fixed
		default:
			out = append(out, whole...)
			continue
		}
		out = protowire.AppendTag(out, num, typ)
		out = protowire.AppendBytes(out, val)
	}
	return out, first
}

// invalidUTF8 returns the error for a request the codec noted, or nil.
func invalidUTF8(req any) error {
	m, ok := req.(proto.Message)
	if !ok {
		return nil
	}
	unknown := m.ProtoReflect().GetUnknown()
	for len(unknown) > 0 {
		num, typ, n := protowire.ConsumeTag(unknown)
		if n < 0 {
			return nil
		}
		l := protowire.ConsumeFieldValue(num, typ, unknown[n:])
		if l < 0 {
			return nil
		}
		if num == noteField && typ == protowire.BytesType {
			field, _ := protowire.ConsumeString(unknown[n:])
			return apierr.InvalidField(field, apierr.InvalidUTF8, "is not valid UTF-8 text")
		}
		unknown = unknown[n+l:]
	}
	return nil
}

// UnaryUTF8Check refuses a unary request that held text other than UTF-8 (see Codec).
func UnaryUTF8Check() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if err := invalidUTF8(req); err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// StreamUTF8Check refuses a streamed request that held text other than UTF-8 (see Codec).
func StreamUTF8Check() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		return handler(srv, utf8Stream{ss})
	}
}

type utf8Stream struct{ grpc.ServerStream }

func (s utf8Stream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	return invalidUTF8(m)
}
