package service

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/dormant-dev/dormant/services/policy/notifier"
)

// addNotifier wires the notifier: email for each site with an smtp block, OpenMRS alerts for
// each site with an OpenMRS connection, templates from the site's templates_dir.
func (p *Policy) addNotifier(ctx context.Context, d Deps) error {
	store, err := notifier.OpenStore(ctx, d.DB)
	if err != nil {
		return err
	}
	var sites []notifier.Site
	for _, s := range d.Sites.Sites {
		tpl, err := notifier.LoadTemplates(s.TemplatesDir)
		if err != nil {
			return err
		}
		ns := notifier.Site{ID: s.ID, AdminEmails: s.AdminEmails, Templates: tpl}
		if s.SMTP != nil {
			password := ""
			if s.SMTP.Username != "" {
				if password, err = s.SMTPPassword(); err != nil {
					return err
				}
			}
			m, err := notifier.NewSMTPMailer(*s.SMTP, password, nil)
			if err != nil {
				return err
			}
			ns.Mailer = leaseMailer{m: m, lease: p.leader}
		} else {
			p.log.Info("site has no smtp block: no email notifications for it", zap.String("site", s.ID))
		}
		if c := p.openmrs[s.ID]; c != nil {
			ns.Alerts = leaseAlerter{c: c, lease: p.leader}
			ns.Admins = notifier.OpenMRSAdmins(s.AdminUUIDs, leaseAdmins{c: c, lease: p.leader}, 6*time.Hour)
		}
		sites = append(sites, ns)
	}
	n, err := notifier.New(ctx, notifier.Deps{Log: p.log, JS: leaseJS{JetStream: d.JS, lease: p.leader}, NS: d.NS, Store: store, Directory: p.store, Sites: sites, Registry: d.Registry,
		Handover: p.handover, LastWarning: p.lastWarning}, p.opts.Notifier)
	if err != nil {
		return err
	}
	// One notifier per cluster: the daily digest is sent by whichever replica finds it
	// unsent, and two replicas finding it at the same minute would both send it.
	p.singletons = append(p.singletons, n)
	return nil
}
