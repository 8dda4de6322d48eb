package natsbus

import (
	"context"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Headers a dead letter carries besides the original message's own headers.
const (
	HeaderDLQReason          = "Dormant-Dlq-Reason"
	HeaderDLQDetail          = "Dormant-Dlq-Detail"
	HeaderDLQOriginalSubject = "Dormant-Dlq-Original-Subject"
	HeaderDLQOriginalSeq     = "Dormant-Dlq-Original-Sequence"
)

// maxDetail keeps a dead letter's explanation readable and its headers small.
const maxDetail = 512

// DeadLetter is a message that could not be processed, with why.
type DeadLetter struct {
	// Subject is the original subject, Header and Data the original message.
	Subject string
	Header  nats.Header
	Data    []byte
	// StreamSeq is the original stream sequence, when the message came from a stream.
	StreamSeq uint64
	// Reason is a short stable code (a metric label); Detail says what exactly was wrong.
	Reason, Detail string
	// ID, when set, deduplicates the dead letter (for example the refused event's id);
	// otherwise the original stream sequence does.
	ID string
}

// DeadLetterFrom builds a dead letter from a consumed JetStream message.
func DeadLetterFrom(m jetstream.Msg, reason, detail string) DeadLetter {
	d := DeadLetter{Subject: m.Subject(), Header: m.Headers(), Data: m.Data(), Reason: reason, Detail: detail}
	if md, err := m.Metadata(); err == nil {
		d.StreamSeq = md.Sequence.Stream
	}
	return d
}

// Msg turns the dead letter into a message for subject: the original payload and headers
// unchanged, so nothing is lost and it can be replayed, plus the reason headers. The original
// Nats-Msg-Id is dropped, or JetStream would deduplicate the dead letter against the
// original publish.
func (d DeadLetter) Msg(subject string) *nats.Msg {
	h := nats.Header{}
	for k, vs := range d.Header {
		if k == nats.MsgIdHdr || strings.HasPrefix(k, "Nats-") {
			continue
		}
		h[k] = append([]string(nil), vs...)
	}
	h.Set(HeaderDLQReason, d.Reason)
	h.Set(HeaderDLQDetail, truncate(d.Detail, maxDetail))
	h.Set(HeaderDLQOriginalSubject, d.Subject)
	if d.StreamSeq > 0 {
		h.Set(HeaderDLQOriginalSeq, fmt.Sprint(d.StreamSeq))
		// A redelivered message dead-lettered twice stays one dead letter.
		h.Set(nats.MsgIdHdr, fmt.Sprintf("dlq-%s-%d", d.Subject, d.StreamSeq))
	}
	if d.ID != "" {
		h.Set(nats.MsgIdHdr, "dlq-"+d.ID)
	}
	return &nats.Msg{Subject: subject, Header: h, Data: d.Data}
}

// PublishDeadLetter stores d on subject and waits for JetStream's acknowledgement.
func PublishDeadLetter(ctx context.Context, js jetstream.JetStream, subject string, d DeadLetter) error {
	if _, err := js.PublishMsg(ctx, d.Msg(subject)); err != nil {
		return fmt.Errorf("dead-letter %s (%s): %w", d.Subject, d.Reason, err)
	}
	return nil
}

func truncate(s string, n int) string {
	// Headers are single lines.
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, s)
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8Start(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }
