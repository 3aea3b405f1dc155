package labels_test

import (
	"strings"
	"testing"

	"github.com/anonjob/anonjob/internal/testimages/labels"
)

func TestRead(t *testing.T) {
	t.Parallel()
	l, err := labels.Read(strings.NewReader(`{"images":[{"file":"a.png","width":4,"height":3,"objects":[{"class":"face","bbox":[1,2,3,4],"small":true}]}]}`))
	if err != nil || len(l.Images) != 1 || l.Images[0].Objects[0].BBox != [4]int{1, 2, 3, 4} || !l.Images[0].Objects[0].Small {
		t.Fatalf("%+v %v", l, err)
	}
	if _, err := labels.Read(strings.NewReader("{")); err == nil {
		t.Error("broken JSON accepted")
	}
}
