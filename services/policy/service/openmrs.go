package service

import (
	"go.uber.org/zap"

	"github.com/dormant-dev/dormant/services/openmrs"
	"github.com/dormant-dev/dormant/services/platform/siteconfig"
)

// openmrsClients builds one REST client per site that has an OpenMRS URL, user and password
// configured. A site without them still gets login records and decisions, but nothing that
// needs OpenMRS (roster sync, retiring, alerts, admin sign-in) runs for it, and the log says so.
func openmrsClients(sites *siteconfig.File, log *zap.Logger) (map[string]*openmrs.Client, error) {
	clients := map[string]*openmrs.Client{}
	for _, s := range sites.Sites {
		if s.OpenMRSURL == "" || s.OpenMRSUser == "" {
			log.Warn("site has no OpenMRS connection configured: roster sync, retirements and sign-in are off for it", zap.String("site", s.ID))
			continue
		}
		password, err := s.OpenMRSPassword()
		if err != nil {
			log.Warn("site's OpenMRS password is not available: roster sync, retirements and sign-in are off for it", zap.String("site", s.ID), zap.Error(err))
			continue
		}
		c, err := openmrs.New(openmrs.Config{BaseURL: s.OpenMRSURL, Username: s.OpenMRSUser, Password: password, UserAgent: "dormant"})
		if err != nil {
			return nil, err
		}
		clients[s.ID] = c
	}
	return clients, nil
}
