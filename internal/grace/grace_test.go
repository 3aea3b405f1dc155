package grace_test

import (
	"context"
	"testing"
	"time"

	"github.com/anonjob/anonjob/internal/grace"
)

func TestContextOutlivesItsParentForTheGrace(t *testing.T) {
	t.Parallel()
	parent, cancelParent := context.WithCancel(context.Background())
	g, cancel := grace.Context(parent, 50*time.Millisecond)
	defer cancel()
	cancelParent()
	if g.Err() != nil {
		t.Fatal("ended with its parent, before the grace")
	}
	<-g.Done() // ends once the grace is over
	g2, cancel2 := grace.Context(context.Background(), time.Hour)
	cancel2()
	if g2.Err() == nil {
		t.Fatal("cancel did not end it")
	}
}
