package service

import (
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
)

// encoded is a message already in wire format: a watch batch encoded once and sent to every
// watcher of it, instead of once per watcher.
type encoded []byte

// codec is gRPC's proto codec that also sends encoded messages as they are.
type codec struct{ encoding.CodecV2 }

// Codec returns the server codec the API needs; register it with grpc.ForceServerCodecV2.
func Codec() encoding.CodecV2 { return codec{encoding.GetCodecV2(proto.Name)} }

func (c codec) Marshal(v any) (mem.BufferSlice, error) {
	if b, ok := v.(encoded); ok {
		return mem.BufferSlice{mem.SliceBuffer(b)}, nil
	}
	return c.CodecV2.Marshal(v)
}
