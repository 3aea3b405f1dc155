package haar

import (
	"image"
	"reflect"
	"testing"
)

func TestGroupRectangles(t *testing.T) {
	t.Parallel()
	r := func(x, y, s int) image.Rectangle { return image.Rect(x, y, x+s, y+s) }
	cases := []struct {
		name  string
		rects []image.Rectangle
		minN  int
		want  []Group
	}{
		{"empty", nil, 3, nil},
		{
			name:  "four similar hits average into one",
			rects: []image.Rectangle{r(100, 100, 50), r(102, 101, 50), r(98, 99, 52), r(101, 100, 48)},
			minN:  3,
			want:  []Group{{Rect: r(100, 100, 50), Neighbors: 4}},
		},
		{
			name:  "a cluster needs more than minNeighbors hits",
			rects: []image.Rectangle{r(10, 10, 30), r(11, 10, 30), r(10, 11, 30)},
			minN:  3,
			want:  nil,
		},
		{
			name:  "distant clusters stay apart",
			rects: []image.Rectangle{r(0, 0, 20), r(1, 0, 20), r(100, 0, 20), r(101, 1, 20)},
			minN:  1,
			want:  []Group{{Rect: r(1, 0, 20), Neighbors: 2}, {Rect: r(101, 1, 20), Neighbors: 2}},
		},
		{
			name: "a weak cluster inside a strong one is dropped",
			rects: []image.Rectangle{
				r(100, 100, 100), r(101, 100, 100), r(100, 101, 100), r(99, 100, 100), r(100, 99, 100),
				r(140, 140, 20), r(141, 140, 20),
			},
			minN: 1,
			want: []Group{{Rect: r(100, 100, 100), Neighbors: 5}},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if got := groupRectangles(c.rects, c.minN, 0.2); !reflect.DeepEqual(got, c.want) {
				t.Fatalf("got %v, want %v", got, c.want)
			}
		})
	}
}
