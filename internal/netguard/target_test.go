package netguard

import "testing"

// checkHost is shared by the URL check and the dialer, which passes hosts without brackets.
func TestCheckHost(t *testing.T) {
	t.Parallel()
	tests := []struct {
		host      string
		bracketed bool
		want      string // "" means refused
	}{
		{"Example.COM.", false, "example.com"},
		{"_svc.example.com", false, "_svc.example.com"},
		{"93.184.216.34", false, "93.184.216.34"},
		{"2606:4700::1111", true, "2606:4700::1111"},
		{"2606:4700::1111", false, ""},
		{"93.184.216.34", true, ""},
		{"example.com", true, ""},
		{"", false, ""},
		{".", false, ""},
		{"a..b", false, ""},
		{"-", false, ""},
		{"a-.example", false, ""},
		{"a-b.example", false, "a-b.example"},
		{"2130706433", false, ""},
		{"0x7f.1", false, ""},
		{"0X7F.1", false, ""},
		{"1.2.3", false, ""},
		{"example.0x", false, ""},
		{"1.2.3.4.example", false, "1.2.3.4.example"},
		{"0xdead.example", false, "0xdead.example"},
		{"ex ample.com", false, ""},
		{"exa%41mple.com", false, ""},
		{"bücher.example", false, ""},
		{"xn--bcher-kva.example", false, "xn--bcher-kva.example"},
	}
	for _, tt := range tests {
		got, _, err := checkHost(tt.host, tt.bracketed)
		if tt.want == "" {
			if err == nil {
				t.Errorf("checkHost(%q, %v) = %q, want refused", tt.host, tt.bracketed, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("checkHost(%q, %v) = %q, %v; want %q", tt.host, tt.bracketed, got, err, tt.want)
		}
	}
}
