package celantur

import (
	"testing"
)

func TestNewChecksConfig(t *testing.T) {
	t.Parallel()
	creds := Credentials{Username: "u", Password: "p"}
	tests := []struct {
		name    string
		cfg     Config
		wantErr bool
	}{
		{name: "password", cfg: Config{BaseURL: "https://api.celantur.com", Credentials: creds}},
		{name: "token", cfg: Config{BaseURL: "http://127.0.0.1:8090/", Credentials: Credentials{Token: "t"}}},
		{name: "no credentials", cfg: Config{BaseURL: "https://api.celantur.com"}, wantErr: true},
		{name: "username only", cfg: Config{BaseURL: "https://api.celantur.com", Credentials: Credentials{Username: "u"}}, wantErr: true},
		{name: "relative URL", cfg: Config{BaseURL: "api.celantur.com", Credentials: creds}, wantErr: true},
		{name: "other scheme", cfg: Config{BaseURL: "ftp://api.celantur.com", Credentials: creds}, wantErr: true},
		{name: "query", cfg: Config{BaseURL: "https://api.celantur.com/?a=b", Credentials: creds}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := New(tt.cfg)
			if (err != nil) != tt.wantErr {
				t.Errorf("New: err = %v, wantErr %v", err, tt.wantErr)
			}
		})
	}
}

func TestFileURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		base, id, kind, want string
	}{
		{"https://api.celantur.com", "0b6f5c1e", KindAnonymized, "https://api.celantur.com/v1/file/0b6f5c1e/anonymized"},
		{"http://127.0.0.1:8090/", "f1", KindBinaryMask, "http://127.0.0.1:8090/v1/file/f1/binary-mask"},
		{"https://proxy.example/celantur", "f 1", KindMetadata, "https://proxy.example/celantur/v1/file/f%201/metadata"},
	}
	for _, tt := range tests {
		c, err := New(Config{BaseURL: tt.base, Credentials: Credentials{Token: "t"}})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		if got := c.FileURL(tt.id, tt.kind); got != tt.want {
			t.Errorf("FileURL(%q, %q) = %q, want %q", tt.id, tt.kind, got, tt.want)
		}
	}
}
