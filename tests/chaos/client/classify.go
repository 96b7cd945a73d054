package main

import (
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// outcome decides what an error says about an operation's effect: "fail" only when the
// server refused it before it could reach the log (or a read, which changes nothing),
// "info" (unknown) for everything else: a timeout, a lost connection, a leader change.
func outcome(err error, mutation bool) string {
	if err == nil {
		return "ok"
	}
	if !mutation {
		return "fail"
	}
	msg := err.Error()
	for _, s := range []string{"too many requests", "not supported for learner",
		"request is too large", "requested lease not found", "mvcc: database space exceeded"} {
		if strings.Contains(msg, s) {
			return "fail"
		}
	}
	if st, ok := status.FromError(err); ok {
		switch st.Code() {
		case codes.InvalidArgument, codes.PermissionDenied, codes.Unauthenticated:
			return "fail"
		}
	}
	return "info"
}
