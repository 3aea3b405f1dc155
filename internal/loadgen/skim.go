package loadgen

import (
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/types/known/timestamppb"

	anonjobv1 "github.com/anonjob/anonjob/gen/anonjob/v1"
)

// SkimJobs is a call option for WatchJobs that decodes of each message only what the fan-out
// measures (the batch's revision, each event's revision and event time) and skips the job
// snapshots. The load command's thousand receivers share the cores with anonjobd; decoding
// every job took about half of their CPU, which the server then lacked.
func SkimJobs() grpc.CallOption { return grpc.ForceCodecV2(skimCodec{encoding.GetCodecV2("proto")}) }

// skimCodec is the proto codec except for WatchJobsResponse.
type skimCodec struct{ encoding.CodecV2 }

func (c skimCodec) Unmarshal(data mem.BufferSlice, v any) error {
	r, ok := v.(*anonjobv1.WatchJobsResponse)
	if !ok {
		return c.CodecV2.Unmarshal(data, v)
	}
	var b []byte
	if len(data) == 1 {
		b = data[0].ReadOnlyData() // read before Unmarshal returns, never kept
	} else {
		b = data.Materialize()
	}
	// A receiver that passes the same message to every RecvMsg gets its events and their
	// times back to fill again: at half a million events a second, two allocations per event
	// were the larger part of the receivers' CPU (malloc and GC), taken from the server's cores.
	evs := r.Events[:0]
	r.Revision = 0
	err := forEachField(b, func(num protowire.Number, typ protowire.Type, val []byte, n uint64) error {
		switch {
		case num == 1 && typ == protowire.BytesType:
			var ev *anonjobv1.JobEvent
			if len(evs) < cap(evs) {
				ev = evs[: len(evs)+1 : cap(evs)][len(evs)]
			}
			if ev == nil {
				ev = &anonjobv1.JobEvent{}
			}
			if err := skimEvent(val, ev); err != nil {
				return err
			}
			evs = append(evs, ev)
		case num == 2 && typ == protowire.VarintType:
			r.Revision = int64(n)
		}
		return nil
	})
	r.Events = evs
	return err
}

// skimEvent reads a JobEvent's revision and event_time into ev, reusing its timestamp.
func skimEvent(b []byte, ev *anonjobv1.JobEvent) error {
	ev.Revision = 0
	ts := ev.EventTime
	ev.EventTime = nil
	return forEachField(b, func(num protowire.Number, typ protowire.Type, val []byte, n uint64) error {
		switch {
		case num == 1 && typ == protowire.VarintType:
			ev.Revision = int64(n)
		case num == 5 && typ == protowire.BytesType:
			if ts == nil {
				ts = &timestamppb.Timestamp{}
			}
			ts.Seconds, ts.Nanos = 0, 0
			ev.EventTime = ts
			return forEachField(val, func(num protowire.Number, typ protowire.Type, _ []byte, n uint64) error {
				switch {
				case num == 1 && typ == protowire.VarintType:
					ts.Seconds = int64(n)
				case num == 2 && typ == protowire.VarintType:
					ts.Nanos = int32(n) //nolint:gosec // nanos are below 1e9 by the message's definition
				}
				return nil
			})
		}
		return nil
	})
}

// forEachField calls f with every field of a message: its number, wire type, and its bytes
// (length-delimited fields) or value (varints); other wire types are skipped.
func forEachField(b []byte, f func(num protowire.Number, typ protowire.Type, val []byte, n uint64) error) error {
	for len(b) > 0 {
		num, typ, k := protowire.ConsumeTag(b)
		if k < 0 {
			return fmt.Errorf("watch message: %w", protowire.ParseError(k))
		}
		b = b[k:]
		var val []byte
		var n uint64
		switch typ {
		case protowire.VarintType:
			n, k = protowire.ConsumeVarint(b)
		case protowire.BytesType:
			val, k = protowire.ConsumeBytes(b)
		default:
			k = protowire.ConsumeFieldValue(num, typ, b)
		}
		if k < 0 {
			return fmt.Errorf("watch message field %d: %w", num, protowire.ParseError(k))
		}
		b = b[k:]
		if err := f(num, typ, val, n); err != nil {
			return err
		}
	}
	return nil
}
