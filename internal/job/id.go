package job

import "github.com/google/uuid"

// ValidID reports whether s has the form of a job id (a UUID).
func ValidID(s string) bool {
	_, err := uuid.Parse(s)
	return err == nil && len(s) == 36
}
