package service

import (
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
)

// encoded is a message already in wire format: a watch batch encoded once and sent to every
// watcher of it, instead of once per watcher.
type encoded []byte

// codec is gRPC's proto codec that also sends encoded messages as they are, and decodes a
// request with invalid UTF-8 so that it can be refused as INVALID_ARGUMENT (utf8.go).
type codec struct{ encoding.CodecV2 }

// Codec returns the server codec the API needs; register it with grpc.ForceServerCodecV2.
func Codec() encoding.CodecV2 { return codec{encoding.GetCodecV2(grpcproto.Name)} }

func (c codec) Marshal(v any) (mem.BufferSlice, error) {
	if b, ok := v.(encoded); ok {
		return mem.BufferSlice{mem.SliceBuffer(b)}, nil
	}
	return c.CodecV2.Marshal(v)
}

func (c codec) Unmarshal(data mem.BufferSlice, v any) error {
	err := c.CodecV2.Unmarshal(data, v)
	if err == nil {
		return nil
	}
	if m, ok := v.(proto.Message); ok && unmarshalInvalidUTF8(data.Materialize(), m) {
		return nil
	}
	return err
}
