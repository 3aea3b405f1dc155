package pgembed

// ClusterDir exposes where a server's cluster lives, for tests.
func ClusterDir(s *Server) string { return s.cluster }
