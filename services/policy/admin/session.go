package admin

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gorilla/securecookie"
)

// Session is what the signed, encrypted session cookie holds. A visitor who has not signed
// in has a session too (Username empty): its ID binds the sign-in form's CSRF token.
type Session struct {
	ID       string    `json:"id"`
	Site     string    `json:"site,omitempty"`
	Username string    `json:"username,omitempty"`
	UserUUID string    `json:"user_uuid,omitempty"`
	Display  string    `json:"display,omitempty"`
	Expires  time.Time `json:"expires"`
}

// SignedIn reports whether the session belongs to a signed-in admin.
func (s Session) SignedIn() bool { return s.Username != "" }

const (
	cookieName = "dormant_session"
	csrfField  = "csrf_token"
	csrfHeader = "X-CSRF-Token"
)

// sessions encodes and decodes session cookies. The cookie is authenticated (HMAC-SHA256)
// and encrypted (AES), so a tampered or forged cookie decodes to nothing and the visitor is
// treated as signed out.
type sessions struct {
	codec  *securecookie.SecureCookie
	csrf   []byte
	ttl    time.Duration
	secure bool
	now    func() time.Time
}

// newSessions derives the cookie keys from one secret of at least 32 bytes.
func newSessions(secret []byte, ttl time.Duration, secure bool, now func() time.Time) (*sessions, error) {
	if len(secret) < 32 {
		return nil, errors.New("admin session key: need at least 32 bytes")
	}
	derive := func(label string) []byte {
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(label))
		return m.Sum(nil)
	}
	codec := securecookie.New(derive("hash"), derive("block"))
	codec.MaxAge(int(ttl / time.Second))
	codec.SetSerializer(securecookie.JSONEncoder{})
	return &sessions{codec: codec, csrf: derive("csrf"), ttl: ttl, secure: secure, now: now}, nil
}

// get returns the request's session, or a fresh anonymous one when there is none, it is
// expired, or it does not decode.
func (s *sessions) get(r *http.Request) (Session, bool) {
	c, err := r.Cookie(cookieName)
	if err == nil {
		var sess Session
		if err := s.codec.Decode(cookieName, c.Value, &sess); err == nil && s.now().Before(sess.Expires) {
			return sess, true
		}
	}
	return Session{ID: randomID(), Expires: s.now().Add(s.ttl)}, false
}

// save writes the session cookie: HttpOnly (no script reads it), SameSite=Lax (not sent on
// cross-site form posts), Secure when dormant is served over TLS.
func (s *sessions) save(w http.ResponseWriter, sess Session) error {
	v, err := s.codec.Encode(cookieName, sess)
	if err != nil {
		return fmt.Errorf("encode session: %w", err)
	}
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: v, Path: "/", Expires: sess.Expires,
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode,
	})
	return nil
}

func (s *sessions) clear(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode})
}

// csrfToken is bound to the session: a token taken from one session is worthless in another.
func (s *sessions) csrfToken(sess Session) string {
	m := hmac.New(sha256.New, s.csrf)
	m.Write([]byte(sess.ID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (s *sessions) validCSRF(sess Session, token string) bool {
	want := s.csrfToken(sess)
	return token != "" && hmac.Equal([]byte(token), []byte(want))
}

func randomID() string {
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// flash is a one-time message shown on the page a change redirects to. It travels in its own
// sealed cookie rather than the URL, so nobody can put words on the page with a crafted link.
type flash struct {
	Notice string `json:"notice,omitempty"`
	Error  string `json:"error,omitempty"`
}

const flashCookie = "dormant_flash"

func (s *sessions) setFlash(w http.ResponseWriter, f flash) {
	v, err := s.codec.Encode(flashCookie, f)
	if err != nil {
		return
	}
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: v, Path: "/", MaxAge: 60, HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode})
}

// takeFlash reads and clears the flash.
func (s *sessions) takeFlash(w http.ResponseWriter, r *http.Request) flash {
	c, err := r.Cookie(flashCookie)
	if err != nil {
		return flash{}
	}
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode})
	var f flash
	if err := s.codec.Decode(flashCookie, c.Value, &f); err != nil {
		return flash{}
	}
	return f
}
