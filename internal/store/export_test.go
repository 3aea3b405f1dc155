package store

// OnGroupWrite makes s call f with the size of each CreateJob group before writing it.
func OnGroupWrite(s *Store, f func(n int)) { s.creates.beforeWrite = f }

// QueuedCreates is the number of CreateJob calls waiting for a group.
func QueuedCreates(s *Store) int {
	s.creates.mu.Lock()
	defer s.creates.mu.Unlock()
	return len(s.creates.queue)
}

// QueuedTransitions lists the jobs of the Transition calls waiting for a group, in order.
func QueuedTransitions(s *Store) []string {
	s.transitions.mu.Lock()
	defer s.transitions.mu.Unlock()
	ids := make([]string, len(s.transitions.queue))
	for i, r := range s.transitions.queue {
		ids[i] = r.id
	}
	return ids
}

// Claim statements and the setting they run after, for tests of their plans.
const (
	ClaimQueuedSQL = claimQueuedSQL
	ClaimPollsSQL  = claimPollsSQL
	IndexOrder     = indexOrder
)
