package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"time"
)

// TickAccepted says whether a tick should be processed: only ticks later than the last one
// processed are. Older or repeated ticks are ignored, so redelivery and reordering cannot move
// time backwards or decide twice.
func TickAccepted(last, tick time.Time) bool {
	return last.IsZero() || tick.After(last)
}

// BatchLimit is the largest number of deactivations one tick may request for a site with
// activeUsers non-retired users: the smaller of the absolute and the relative limit, or -1 when
// both are off. The relative limit rounds up and never falls below 1, so a small clinic can
// still retire a single account without an admin's approval.
func BatchLimit(p Policy, activeUsers int) int {
	limit := -1
	if p.MaxDeactivationsPerTick > 0 {
		limit = p.MaxDeactivationsPerTick
	}
	if p.MaxDeactivationsPercent > 0 {
		rel := max(1, int(math.Ceil(float64(activeUsers)*p.MaxDeactivationsPercent/100)))
		if limit < 0 || rel < limit {
			limit = rel
		}
	}
	return limit
}

// Guard says whether a tick's deactivations must be held for an admin's approval instead of
// requested, and why. It holds when the batch exceeds BatchLimit, when the tick is more than
// MaxClockJump after the previous one (lastTick zero: the first tick, no jump to measure), or
// when the site's login feed has been silent for longer than FeedSilenceWindow. A site that has
// never sent a login event (lastFeedEvent zero) has no feed to fall silent: its last logins come
// from backfill and the roster alone, and the batch limits remain its safeguard. A tick with no
// deactivations holds nothing; warnings are never held.
func Guard(p Policy, deactivations, activeUsers int, lastTick, tick, lastFeedEvent time.Time) (hold bool, reasons []string) {
	if deactivations <= 0 {
		return false, nil
	}
	if limit := BatchLimit(p, activeUsers); limit >= 0 && deactivations > limit {
		reasons = append(reasons, fmt.Sprintf("%d deactivations exceed the limit of %d per tick (max_deactivations_per_tick %d, max_deactivations_percent %g%% of %d active users)",
			deactivations, limit, p.MaxDeactivationsPerTick, p.MaxDeactivationsPercent, activeUsers))
	}
	if !lastTick.IsZero() && tick.Sub(lastTick) > p.MaxClockJump {
		reasons = append(reasons, fmt.Sprintf("the clock jumped %s since the previous tick at %s (max_clock_jump %s)",
			formatDuration(tick.Sub(lastTick)), lastTick.UTC().Format(time.RFC3339), formatDuration(p.MaxClockJump)))
	}
	if p.FeedSilenceWindow > 0 && !lastFeedEvent.IsZero() && tick.Sub(lastFeedEvent) > p.FeedSilenceWindow {
		reasons = append(reasons, fmt.Sprintf("no login event from the site since %s (feed_silence_window %s)",
			lastFeedEvent.UTC().Format(time.RFC3339), formatDuration(p.FeedSilenceWindow)))
	}
	return len(reasons) > 0, reasons
}

// DecisionID identifies the deactivation decision of a user's cycle: the same plan always
// gives the same id, so a replayed tick emits an event JetStream and consumers drop as a
// duplicate, and a new cycle (or going live after dry run) gives a new one.
func DecisionID(site, userUUID string, st State) string {
	return digest("decision", site, userUUID, st, "")
}

// WarningID identifies one warning step of a user's cycle.
func WarningID(site, userUUID string, st State, step time.Duration) string {
	return digest("warning", site, userUUID, st, strconv.FormatInt(int64(step/time.Second), 10))
}

func digest(kind, site, user string, st State, extra string) string {
	h := sha256.New()
	for _, part := range []string{kind, site, user, st.Rule,
		st.Anchor.UTC().Format(time.RFC3339Nano), st.DeactivateOn.UTC().Format(time.RFC3339Nano),
		strconv.FormatBool(st.DryRun), extra} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Cutoffs bound the users a tick needs to evaluate, so the store can preselect them on an
// index instead of loading the site.
type Cutoffs struct {
	// ActivityBefore: users whose last activity (see LastActivity) is before it may need action
	// under inactive_after or a custom shorten rule.
	ActivityBefore time.Time
	// DemoCreatedBefore: demo accounts (Rules.IsDemo) created before it may need action.
	DemoCreatedBefore time.Time
}

// Cutoffs gives the preselection bounds at now. A user outside both gets KindNone and a zero
// State from Evaluate (or is protected): the bounds are the anchor of the earliest plan Evaluate
// would make, now - period + the rule's largest step + MaxClockJump. Users with a pending plan
// stay inside, since their anchor does not move. Custom shorten rules are CEL the store cannot
// run, so the bound takes the most inclusive of them.
func (p Policy) Cutoffs(now time.Time) Cutoffs {
	bound := func(period time.Duration) time.Time {
		steps := p.stepsFor(period)
		largest := time.Duration(0)
		if len(steps) > 0 {
			largest = steps[0]
		}
		return now.Add(-period + largest + p.MaxClockJump)
	}
	c := Cutoffs{ActivityBefore: bound(p.InactiveAfter), DemoCreatedBefore: bound(p.Demo.MaxAge)}
	for _, r := range p.CustomRules {
		if r.Action == ActionShorten {
			if b := bound(r.Period); b.After(c.ActivityBefore) {
				c.ActivityBefore = b
			}
		}
	}
	return c
}
