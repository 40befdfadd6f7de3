package serve

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/fastcapa-go/fastcapa/query"
)

// TestParams: Metron's JSON reads into the query it means, and ParamsOf
// sends a request as the same query.
func TestParams(t *testing.T) {
	p, err := DecodeParams([]byte(`{"ipSrcAddr":"10.0.0.1","ipDstPort":80,"ipSrcPort":"1234","protocol":"6",
		"includeReverse":true,"packetFilter":"47 45 54","startTimeMs":1000,"endTimeMs":2000,"numReducers":10}`))
	if err != nil {
		t.Fatal(err)
	}
	r, err := p.Request()
	if err != nil {
		t.Fatal(err)
	}
	want := query.Request{
		Fixed:     &query.FixedFields{SrcAddr: "10.0.0.1", SrcPort: "1234", DstPort: "80", Protocol: "6", IncludeReverse: true},
		MatchVLAN: true, Pattern: "47 45 54", Start: time.UnixMilli(1000), End: time.UnixMilli(2000),
	}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("got %+v\nwant %+v", r, want)
	}
	back, err := func() (query.Request, error) { p := ParamsOf(r); return p.Request() }()
	if err != nil || !reflect.DeepEqual(back, want) {
		t.Errorf("round trip: %+v %v", back, err)
	}
	e := query.Request{Expr: "tcp port 80", MaxPackets: 5, Start: time.UnixMilli(7)}
	if back, err := func() (query.Request, error) { p := ParamsOf(e); return p.Request() }(); err != nil || !reflect.DeepEqual(back, e) {
		t.Errorf("expression round trip: %+v %v", back, err)
	}
	for body, msg := range map[string]string{
		`{"ipSrcAddr":"10.0.0.1","query":"tcp"}`: "leave ipSrcAddr",
		`{"ipSrcAddres":"10.0.0.1"}`:             "unknown field",
		`{"ipSrcPort":true}`:                     "port",
		`{} {}`:                                  "more than one",
		`{"maxPackets":-1}`:                      "≥ 0",
		`{"query":"tcp","tunnels":true}`:         "tunnels",
	} {
		p, err := DecodeParams([]byte(body))
		if err == nil {
			_, err = p.Request()
		}
		if err == nil || !strings.Contains(err.Error(), msg) || !errors.Is(err, query.ErrSpec) {
			t.Errorf("%s: %v, want an ErrSpec with %q", body, err, msg)
		}
	}
}

// FuzzParams: any body decodes or is refused, never a panic, and a
// request it makes is one ParamsOf sends back the same.
func FuzzParams(f *testing.F) {
	f.Add([]byte(`{"ipSrcAddr":"10.0.0.1","ipDstPort":80,"startTimeMs":1000}`))
	f.Add([]byte(`{"query":"tcp","vlan":false,"maxBytes":9}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := DecodeParams(b)
		if err != nil {
			return
		}
		r, err := p.Request()
		if err != nil {
			return
		}
		q := ParamsOf(r)
		back, err := q.Request()
		if err != nil || !reflect.DeepEqual(back, r) {
			t.Fatalf("%s: %+v → %+v (%v)", b, r, back, err)
		}
	})
}

func TestAuth(t *testing.T) {
	dir := t.TempDir()
	hash, _ := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	pw := filepath.Join(dir, "htpasswd")
	os.WriteFile(pw, []byte("# users\nalice:"+string(hash)+"\n\n"), 0o600)
	sum := sha256.Sum256([]byte("tok-1"))
	tk := filepath.Join(dir, "tokens")
	os.WriteFile(tk, []byte("robot:"+hex.EncodeToString(sum[:])+"\n"), 0o600)
	a, err := LoadAuth(pw, tk, false)
	if err != nil {
		t.Fatal(err)
	}
	ask := func(set func(*http.Request)) (string, error) {
		r, _ := http.NewRequest("GET", "http://x/query", nil)
		set(r)
		return a.Identify(r)
	}
	for _, c := range []struct {
		name string
		set  func(*http.Request)
		user string
	}{
		{"nothing", func(*http.Request) {}, ""},
		{"password", func(r *http.Request) { r.SetBasicAuth("alice", "s3cret") }, "alice"},
		{"password again (remembered)", func(r *http.Request) { r.SetBasicAuth("alice", "s3cret") }, "alice"},
		{"wrong password", func(r *http.Request) { r.SetBasicAuth("alice", "s3cret!") }, ""},
		{"no such user", func(r *http.Request) { r.SetBasicAuth("bob", "s3cret") }, ""},
		{"token", func(r *http.Request) { r.Header.Set("Authorization", "Bearer tok-1") }, "robot"},
		{"wrong token", func(r *http.Request) { r.Header.Set("Authorization", "Bearer tok-2") }, ""},
		{"other scheme", func(r *http.Request) { r.Header.Set("Authorization", "Digest x") }, ""},
	} {
		user, err := ask(c.set)
		if user != c.user || (c.user == "") != errors.Is(err, errUnauthorized) {
			t.Errorf("%s: %q %v, want %q", c.name, user, err, c.user)
		}
	}
	if open, _ := LoadAuth("", "", false); !open.Open() {
		t.Error("no credentials: not open")
	}
	for content, msg := range map[string]string{
		"alice:{SHA}abc\n": "not a bcrypt hash",
		"alice\n":          "want name:value",
		"alice:" + string(hash) + "\nalice:" + string(hash) + "\n": "twice",
	} {
		os.WriteFile(pw, []byte(content), 0o600)
		if _, err := LoadAuth(pw, "", false); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%q: %v, want %q", content, err, msg)
		}
	}
	os.WriteFile(tk, []byte("robot:abcd\n"), 0o600)
	if _, err := LoadAuth("", tk, false); err == nil || !strings.Contains(err.Error(), "64 digits") {
		t.Errorf("short token hash: %v", err)
	}
}

func TestCheckListen(t *testing.T) {
	open := &Auth{}
	for addr, ok := range map[string]bool{"127.0.0.1:9460": true, "[::1]:1": true, "localhost:1": true, "0.0.0.0:9460": false, ":9460": false, "10.1.2.3:80": false} {
		if err := CheckListen(addr, open, false); (err == nil) != ok {
			t.Errorf("%s: %v", addr, err)
		}
	}
	if err := CheckListen("0.0.0.0:1", open, true); err != nil {
		t.Errorf("-no-auth: %v", err)
	}
}
