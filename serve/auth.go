package serve

import (
	"bufio"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"

	"golang.org/x/crypto/bcrypt"
)

// Anonymous is who asks when nothing says who: on a server without
// credentials (a loopback listener, or -no-auth).
const Anonymous = "anonymous"

// Auth decides who asks. With a client CA (TLSConfig's), the TLS
// handshake already refused a client without a valid certificate, and
// the certificate's common name is who asks unless a token or password
// says otherwise. Users authenticate with HTTP Basic against an
// htpasswd file of bcrypt hashes (htpasswd -B), or with a bearer token
// whose SHA-256 is in a tokens file. Credentials that are given and
// wrong are refused even with a certificate.
type Auth struct {
	passwords map[string][]byte   // user → bcrypt hash
	tokens    map[[32]byte]string // SHA-256 of a token → its name
	certs     bool                // a client CA verifies certificates

	// verified remembers the Basic credentials bcrypt accepted (by
	// their SHA-256), so that a client's every request does not pay
	// bcrypt's cost. Reloading makes a new Auth, and so forgets them.
	verified sync.Map // [32]byte → user
}

// LoadAuth reads the credentials files ("" for none). certs says that
// client certificates are verified (a client CA is configured).
//
// htpasswd holds "user:hash" lines, each hash bcrypt ($2a$, $2b$ or
// $2y$, as htpasswd -B writes it); tokens holds "name:hex" lines, hex
// the SHA-256 of the token (printf %s "$TOKEN" | sha256sum). Blank lines
// and lines starting with # are ignored; any other line that cannot be
// read is an error naming the file and line, and so are unsafe hashes
// (MD5, SHA-1, crypt, plain text).
func LoadAuth(htpasswd, tokens string, certs bool) (*Auth, error) {
	a := &Auth{passwords: map[string][]byte{}, tokens: map[[32]byte]string{}, certs: certs}
	if htpasswd != "" {
		err := readLines(htpasswd, func(user, hash string) error {
			if _, err := bcrypt.Cost([]byte(hash)); err != nil {
				return fmt.Errorf("user %q: not a bcrypt hash (make it with htpasswd -B): %v", user, err)
			}
			if _, dup := a.passwords[user]; dup {
				return fmt.Errorf("user %q twice", user)
			}
			a.passwords[user] = []byte(hash)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if tokens != "" {
		err := readLines(tokens, func(name, sum string) error {
			b, err := hex.DecodeString(sum)
			if err != nil || len(b) != sha256.Size {
				return fmt.Errorf("token %q: want the SHA-256 of the token in hex (64 digits)", name)
			}
			k := [32]byte(b)
			if _, dup := a.tokens[k]; dup {
				return fmt.Errorf("token %q: the same token as another", name)
			}
			a.tokens[k] = name
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return a, nil
}

// readLines calls fn with each "name:value" line of the file.
func readLines(path string, fn func(name, value string) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || name == "" || value == "" {
			return fmt.Errorf("%s:%d: want name:value", path, n)
		}
		if err := fn(name, value); err != nil {
			return fmt.Errorf("%s:%d: %w", path, n, err)
		}
	}
	return sc.Err()
}

// Open reports whether a has no credentials at all: everyone is
// Anonymous.
func (a *Auth) Open() bool {
	return len(a.passwords) == 0 && len(a.tokens) == 0 && !a.certs
}

// errUnauthorized is a request without acceptable credentials.
var errUnauthorized = errors.New("unauthorized")

// Identify returns who asks r, or errUnauthorized.
func (a *Auth) Identify(r *http.Request) (string, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, cred, _ := strings.Cut(h, " ")
		switch {
		case strings.EqualFold(scheme, "Bearer") && len(a.tokens) > 0:
			if name, ok := a.tokens[sha256.Sum256([]byte(strings.TrimSpace(cred)))]; ok {
				return name, nil
			}
			return "", errUnauthorized
		case strings.EqualFold(scheme, "Basic") && len(a.passwords) > 0:
			user, pass, ok := r.BasicAuth()
			if ok && a.password(user, pass) {
				return user, nil
			}
			return "", errUnauthorized
		}
		if !a.Open() {
			return "", errUnauthorized
		}
	}
	if a.certs && r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		return r.TLS.PeerCertificates[0].Subject.CommonName, nil
	}
	if a.Open() {
		return Anonymous, nil
	}
	return "", errUnauthorized
}

// password checks user's password against its bcrypt hash, once per
// distinct pair.
func (a *Auth) password(user, pass string) bool {
	hash, ok := a.passwords[user]
	if !ok {
		// Spend bcrypt's time anyway: a missing user answers as slowly
		// as a wrong password.
		bcrypt.CompareHashAndPassword(dummyHash(), []byte(pass))
		return false
	}
	key := sha256.Sum256([]byte(user + "\x00" + pass))
	if u, ok := a.verified.Load(key); ok {
		return subtle.ConstantTimeCompare([]byte(u.(string)), []byte(user)) == 1
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(pass)) != nil {
		return false
	}
	a.verified.Store(key, user)
	return true
}

// dummyHash is a bcrypt hash no password given matches in practice,
// made when first needed (it takes bcrypt's time).
var dummyHash = sync.OnceValue(func() []byte {
	h, _ := bcrypt.GenerateFromPassword([]byte("pcapstore serve: no such user"), bcrypt.DefaultCost)
	return h
})

// challenge is the WWW-Authenticate header of a refusal.
func (a *Auth) challenge() string {
	if len(a.passwords) > 0 {
		return `Basic realm="pcapstore", charset="UTF-8"`
	}
	return `Bearer realm="pcapstore"`
}
