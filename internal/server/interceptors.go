package server

import (
	"context"
	"log/slog"
	"runtime/debug"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/anonjob/anonjob/internal/apierr"
)

// unaryInterceptor logs each call, turns a panic into INTERNAL instead of a crash, and gives
// every error the API's shape (apierr.Normalize).
func unaryInterceptor(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
		start := time.Now()
		defer func() {
			if p := recover(); p != nil {
				log.ErrorContext(ctx, "panic in handler", "method", info.FullMethod, "panic", p, "stack", string(debug.Stack()))
				err = status.Error(codes.Internal, "internal error")
			}
			err = apierr.Normalize(err, "") // one error shape, whoever made the error
			logCall(ctx, log, info.FullMethod, start, err)
		}()
		return handler(ctx, req)
	}
}

func streamInterceptor(log *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
		start := time.Now()
		defer func() {
			if p := recover(); p != nil {
				log.ErrorContext(ss.Context(), "panic in handler", "method", info.FullMethod, "panic", p, "stack", string(debug.Stack()))
				err = status.Error(codes.Internal, "internal error")
			}
			err = apierr.Normalize(err, "")
			logCall(ss.Context(), log, info.FullMethod, start, err)
		}()
		return handler(srv, ss)
	}
}

func logCall(ctx context.Context, log *slog.Logger, method string, start time.Time, err error) {
	code := status.Code(err)
	level := slog.LevelDebug
	if code == codes.Internal || code == codes.Unknown {
		level = slog.LevelError
	}
	log.LogAttrs(ctx, level, "grpc call", slog.String("method", method),
		slog.String("code", code.String()), slog.Duration("took", time.Since(start)))
}
