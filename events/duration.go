package events

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

const day = 24 * time.Hour

// ParseISODuration parses the ISO 8601 durations a clock period needs: PnW, or
// PnDTnHnMnS with any part left out (seconds may carry a fraction). Years and months are
// refused because their length depends on the calendar, which a period must not.
func ParseISODuration(s string) (time.Duration, error) {
	rest, ok := strings.CutPrefix(s, "P")
	if !ok {
		return 0, fmt.Errorf("duration %q: must start with P", s)
	}
	if rest == "" || rest == "T" {
		return 0, fmt.Errorf("duration %q: has no parts", s)
	}
	if w, ok := strings.CutSuffix(rest, "W"); ok {
		n, err := parseCount(w)
		if err != nil {
			return 0, fmt.Errorf("duration %q: weeks: %w", s, err)
		}
		return scale(s, n, 7*day)
	}
	datePart, timePart, hasT := strings.Cut(rest, "T")
	if hasT && timePart == "" {
		return 0, fmt.Errorf("duration %q: T with no time parts", s)
	}
	var total time.Duration
	if datePart != "" {
		d, ok := strings.CutSuffix(datePart, "D")
		if !ok {
			return 0, fmt.Errorf("duration %q: only days (D) or weeks (W) may precede T", s)
		}
		n, err := parseCount(d)
		if err != nil {
			return 0, fmt.Errorf("duration %q: days: %w", s, err)
		}
		v, err := scale(s, n, day)
		if err != nil {
			return 0, err
		}
		total = v
	}
	units := []struct {
		designator byte
		unit       time.Duration
	}{{'H', time.Hour}, {'M', time.Minute}, {'S', time.Second}}
	next := 0
	for timePart != "" {
		i := strings.IndexAny(timePart, "HMS")
		if i < 0 {
			return 0, fmt.Errorf("duration %q: %q lacks a designator", s, timePart)
		}
		k := next
		for k < len(units) && units[k].designator != timePart[i] {
			k++
		}
		if k == len(units) {
			return 0, fmt.Errorf("duration %q: parts out of order", s)
		}
		next = k + 1
		num := timePart[:i]
		timePart = timePart[i+1:]
		var v time.Duration
		if units[k].designator == 'S' && strings.ContainsAny(num, ".,") {
			var err error
			if v, err = fractionalSeconds(num); err != nil {
				return 0, fmt.Errorf("duration %q: bad seconds %q: %w", s, num, err)
			}
		} else {
			n, err := parseCount(num)
			if err != nil {
				return 0, fmt.Errorf("duration %q: %c: %w", s, units[k].designator, err)
			}
			if v, err = scale(s, n, units[k].unit); err != nil {
				return 0, err
			}
		}
		if total > math.MaxInt64-v {
			return 0, fmt.Errorf("duration %q: too long", s)
		}
		total += v
	}
	return total, nil
}

// fractionalSeconds reads "12.5" or "12,5" seconds exactly, in decimal: a float would turn
// 16.2507 into 16.250699999 and break the round trip through FormatISODuration. Digits past
// nanoseconds are cut.
func fractionalSeconds(num string) (time.Duration, error) {
	whole, frac, _ := strings.Cut(strings.Replace(num, ",", ".", 1), ".")
	if whole == "" {
		whole = "0"
	}
	if frac == "" && !strings.ContainsAny(num, ".,") {
		return 0, errors.New("no fraction")
	}
	n, err := parseCount(whole)
	if err != nil {
		return 0, err
	}
	for _, c := range frac {
		if c < '0' || c > '9' {
			return 0, errors.New("the fraction must be digits")
		}
	}
	if len(frac) > 9 {
		frac = frac[:9]
	}
	frac += strings.Repeat("0", 9-len(frac))
	nanos, _ := strconv.ParseInt(frac, 10, 64)
	if n > (math.MaxInt64-nanos)/int64(time.Second) {
		return 0, errors.New("too long")
	}
	return time.Duration(n)*time.Second + time.Duration(nanos), nil
}

func parseCount(s string) (int64, error) {
	if s == "" || s[0] < '0' || s[0] > '9' {
		return 0, errors.New("needs a non-negative whole number")
	}
	return strconv.ParseInt(s, 10, 64)
}

func scale(s string, n int64, unit time.Duration) (time.Duration, error) {
	if n > int64(math.MaxInt64/unit) {
		return 0, fmt.Errorf("duration %q: too long", s)
	}
	return time.Duration(n) * unit, nil
}

// FormatISODuration writes d as ISO 8601: whole weeks as PnW, otherwise PnDTnHnMnS with
// zero parts left out (P0D for zero). Negative durations have no ISO 8601 form and are
// written with a leading minus, which ParseISODuration refuses.
func FormatISODuration(d time.Duration) string {
	if d == 0 {
		return "P0D"
	}
	sign := ""
	if d < 0 {
		sign = "-"
		d = -d
	}
	if d%(7*day) == 0 {
		return fmt.Sprintf("%sP%dW", sign, d/(7*day))
	}
	var b strings.Builder
	b.WriteString(sign + "P")
	if days := d / day; days > 0 {
		fmt.Fprintf(&b, "%dD", days)
		d -= days * day
	}
	if d > 0 {
		b.WriteByte('T')
		if h := d / time.Hour; h > 0 {
			fmt.Fprintf(&b, "%dH", h)
			d -= h * time.Hour
		}
		if m := d / time.Minute; m > 0 {
			fmt.Fprintf(&b, "%dM", m)
			d -= m * time.Minute
		}
		if d > 0 {
			secs := strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
			b.WriteString(secs + "S")
		}
	}
	return b.String()
}
