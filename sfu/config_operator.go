package sfu

// validateOperator checks the operator-facing settings: TLS, trusted
// proxies and webhooks.
func (c *Config) validateOperator() error {
	if err := c.TLS.validate(); err != nil {
		return err
	}
	if _, err := parseProxies(c.TrustedProxies); err != nil {
		return err
	}
	return c.validateWebhook()
}
