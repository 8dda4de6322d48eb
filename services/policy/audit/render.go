package audit

import (
	"embed"
	"encoding/csv"
	"fmt"
	"html/template"
	"io"
	"strconv"
	"strings"
	"time"
)

//go:embed report.html
var templateFS embed.FS

// CSVHeader names the columns of WriteCSV, one row per case.
var CSVHeader = []string{
	"site", "username", "user_uuid", "rule", "last_activity", "threshold", "warnings", "exemptions",
	"held", "approved", "rejected", "requested", "retired", "days_threshold_to_retirement",
	"status", "status_detail", "days_overdue", "reactivated", "policy_versions",
}

// WriteCSV writes one row per case: the lines an auditor filters and counts in a
// spreadsheet. The totals and worst cases are the HTML report's; they follow from the rows.
// Dates are YYYY-MM-DD (UTC), instants RFC 3339; lists are separated by "; ".
func WriteCSV(w io.Writer, r Report) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return err
	}
	for _, c := range r.Cases {
		if err := cw.Write(CSVRow(r.Site, c)); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// CSVRow is the CSV line of one case.
func CSVRow(site string, c Case) []string {
	var warnings, exemptions []string
	for _, w := range c.Warnings {
		s := fmt.Sprintf("%s (%d days before)", stamp(w.At), w.DaysLeft)
		if w.WouldBe {
			s += " would-be"
		}
		warnings = append(warnings, s)
	}
	for _, e := range c.Exemptions {
		exemptions = append(exemptions, ExemptionText(e))
	}
	held, approved, rejected := stepText(c, "held"), stepText(c, "released"), stepText(c, "rejected")
	days, reactivated := "", ""
	if !c.Retired.IsZero() {
		days = strconv.Itoa(c.DaysToRetirement)
	}
	if c.Reactivated != nil {
		reactivated = fmt.Sprintf("%s by %s: %s", stamp(c.Reactivated.At), c.Reactivated.By, c.Reactivated.Reason)
	}
	overdue := ""
	if c.DaysOverdue > 0 {
		overdue = strconv.Itoa(c.DaysOverdue)
	}
	return []string{
		site, cell(c.Username), c.UserUUID, c.Rule, day(c.LastActivity), day(c.Threshold),
		cell(strings.Join(warnings, "; ")), cell(strings.Join(exemptions, "; ")),
		held, cell(approved), cell(rejected), stamp(c.Requested), stamp(c.Retired), days,
		c.Status, cell(c.StatusDetail), overdue, cell(reactivated), strings.Join(c.PolicyVersions, "; "),
	}
}

// ExemptionText says who exempted, from when, until when and why.
func ExemptionText(e Exemption) string {
	until := "until removed"
	if e.Until != nil {
		until = "until " + stamp(*e.Until)
	}
	return fmt.Sprintf("%s by %s %s: %s", stamp(e.From), e.By, until, e.Reason)
}

// stepText lists when steps of kind happened, and by whom when an admin did.
func stepText(c Case, kind string) string {
	var out []string
	for _, s := range c.Timeline {
		if s.Kind != kind {
			continue
		}
		t := stamp(s.At)
		if s.By != "" && s.By != "policy" {
			t += " by " + s.By
		}
		if kind == "rejected" && s.Detail != "" {
			t += ": " + s.Detail
		}
		out = append(out, t)
	}
	return strings.Join(out, "; ")
}

func day(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.DateOnly)
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// cell defuses spreadsheet formulas: usernames, notes and reasons come from outside, and a
// cell starting with = + - @ would run when an auditor opens the file.
func cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

var funcs = template.FuncMap{
	"day":       day,
	"stamp":     stamp,
	"exemption": ExemptionText,
	"steps":     stepText,
	"short": func(v string) string {
		if len(v) > 12 {
			return v[:12]
		}
		return v
	},
	"mean": func(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) },
	"lastDay": func(t time.Time) string {
		return day(t.Add(-time.Nanosecond))
	},
}

var reportTemplate = template.Must(template.New("report.html").Funcs(funcs).ParseFS(templateFS, "report.html"))

// WriteHTML writes the report as one self-contained printable page (styles inline, no
// scripts, no outside resources), so the file can be archived and printed as it is.
func WriteHTML(w io.Writer, r Report) error {
	return reportTemplate.Execute(w, r)
}
