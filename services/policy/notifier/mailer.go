package notifier

import (
	"context"
	"crypto/tls"
	"fmt"
	"time"

	"github.com/wneessen/go-mail"

	"github.com/dormant-dev/dormant/services/platform/siteconfig"
)

// Message is one email.
type Message struct {
	To                  []string
	Subject, Text, HTML string
	// ID becomes the Message-ID, derived from the notification's key, so a resend after a
	// crash is recognisably the same message to mail systems that deduplicate.
	ID string
}

// Mailer sends email.
type Mailer interface {
	Send(ctx context.Context, m Message) error
}

// SMTPMailer sends through a site's SMTP server with go-mail: STARTTLS required by default,
// authentication (PLAIN or LOGIN, whichever the server offers) when a username is set.
type SMTPMailer struct {
	cfg      siteconfig.SMTP
	password string
	tls      *tls.Config
}

// NewSMTPMailer checks the configuration; tlsConfig may be nil (system roots, server name
// from Host). Nothing connects until Send.
func NewSMTPMailer(cfg siteconfig.SMTP, password string, tlsConfig *tls.Config) (*SMTPMailer, error) {
	if cfg.Host == "" || cfg.From == "" {
		return nil, fmt.Errorf("smtp: host and from are required")
	}
	if cfg.Username != "" && password == "" {
		return nil, fmt.Errorf("smtp: a password is required for user %s", cfg.Username)
	}
	return &SMTPMailer{cfg: cfg, password: password, tls: tlsConfig}, nil
}

func (s *SMTPMailer) client() (*mail.Client, error) {
	opts := []mail.Option{mail.WithTimeout(30 * time.Second)}
	port := s.cfg.Port
	switch s.cfg.TLS {
	case "", "starttls":
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
		if port == 0 {
			port = 587
		}
	case "implicit":
		opts = append(opts, mail.WithSSL())
		if port == 0 {
			port = 465
		}
	case "none":
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
		if port == 0 {
			port = 25
		}
	default:
		return nil, fmt.Errorf("smtp: tls %q: must be starttls, implicit or none", s.cfg.TLS)
	}
	opts = append(opts, mail.WithPort(port))
	if s.tls != nil {
		opts = append(opts, mail.WithTLSConfig(s.tls))
	}
	if s.cfg.Username != "" {
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover), mail.WithUsername(s.cfg.Username), mail.WithPassword(s.password))
	}
	return mail.NewClient(s.cfg.Host, opts...)
}

// Send delivers one message: a text body with an HTML alternative.
func (s *SMTPMailer) Send(ctx context.Context, m Message) error {
	if len(m.To) == 0 {
		return fmt.Errorf("send %q: no recipients", m.Subject)
	}
	msg := mail.NewMsg()
	if err := msg.From(s.cfg.From); err != nil {
		return fmt.Errorf("smtp from %q: %w", s.cfg.From, err)
	}
	if err := msg.To(m.To...); err != nil {
		return fmt.Errorf("send %q: recipients: %w", m.Subject, err)
	}
	msg.Subject(m.Subject)
	msg.SetDate()
	if m.ID != "" {
		msg.SetMessageIDWithValue(m.ID + "@dormant")
	} else {
		msg.SetMessageID()
	}
	msg.SetBodyString(mail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(mail.TypeTextHTML, m.HTML)
	}
	c, err := s.client()
	if err != nil {
		return err
	}
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		return fmt.Errorf("send %q to %d recipients via %s: %w", m.Subject, len(m.To), s.cfg.Host, err)
	}
	return nil
}
