package auth

import (
	"cmp"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/tiercel/tiercel/internal/defaults"
)

// Config configures a Verifier. Zero values mean the documented defaults.
type Config struct {
	// Leeway is the clock skew tolerated on exp, nbf and iat. Default 30s.
	Leeway time.Duration `yaml:"leeway"`
	// MaxTokenBytes bounds the token length; longer tokens are rejected with
	// ReasonTooLarge before any parsing. Default 8192.
	MaxTokenBytes int `yaml:"max_token_bytes"`
	// CacheEntries bounds the verified-token cache. Size it to the number of
	// distinct live tokens expected within CacheTTL; each entry costs roughly
	// the token length plus 200 bytes. Default 100000.
	CacheEntries int `yaml:"cache_entries"`
	// CacheTTL is the longest a verified token is trusted without verifying it
	// again. It does not delay revocation: a cached token stops being
	// trusted as soon as the key that verified it leaves its JWKS or the set
	// outlives JWKSMaxStale. Default 5m.
	CacheTTL time.Duration `yaml:"cache_ttl"`
	// Issuers are the trusted token issuers, chosen by the token's iss claim.
	Issuers []IssuerConfig `yaml:"issuers"`
	// KeepClaims names the claims a Principal keeps for Principal.Claim,
	// in canonical form: the gateway sets it from the routes' cache.key.claims
	// (keeping every claim of every cached token would cost memory for
	// nothing). Not read from the config file.
	KeepClaims []string `yaml:"-"`
}

// IssuerConfig describes one trusted issuer and its keys.
type IssuerConfig struct {
	// Name labels the issuer in logs, metrics and Status. Default: Issuer.
	Name string `yaml:"name"`
	// Issuer is the exact iss value of its tokens. Required.
	Issuer string `yaml:"issuer"`
	// Audiences, if set, requires the token's aud to contain one of them.
	Audiences []string `yaml:"audiences"`
	// Algorithms is the allow-list of token algs: HS256/384/512,
	// RS256/384/512, PS256/384/512, ES256/384/512, EdDSA. Required. HMAC and
	// public-key algorithms cannot be mixed in one issuer.
	Algorithms []string `yaml:"algorithms"`
	// Keys are keys known in advance; JWKSURL adds keys fetched at run time.
	Keys []KeyConfig `yaml:"keys"`
	// JWKSURL is an http(s) URL serving the issuer's JWK Set. Public-key
	// algorithms only: symmetric keys are never taken from a URL.
	JWKSURL string `yaml:"jwks_url"`
	// JWKSRefresh is the interval between background JWKS fetches. Default 5m.
	// After a failed fetch, retries back off from 1s up to this interval.
	JWKSRefresh time.Duration `yaml:"jwks_refresh"`
	// JWKSUnknownKIDInterval allows at most one JWKS refetch triggered by
	// tokens with unknown kids per interval, so random kids cannot hammer the
	// endpoint. Default 1m.
	JWKSUnknownKIDInterval time.Duration `yaml:"jwks_unknown_kid_interval"`
	// JWKSTimeout bounds one JWKS fetch. Default 2s.
	JWKSTimeout time.Duration `yaml:"jwks_timeout"`
	// JWKSMaxStale is how long the last good JWK Set is trusted, counted
	// from the fetch that brought it, while fetches fail (errors, non-200,
	// malformed or oversized answers). Past it the set's keys verify
	// nothing, cached tokens included, and the issuer is not ready until a
	// fetch succeeds: an endpoint that is down cannot be told from one that
	// revokes. It bounds how long a revocation can go unseen, so size it to
	// the outage you would ride out, a few jwks_refresh at least. Default
	// 1h, or jwks_refresh if that is longer; at least jwks_refresh.
	JWKSMaxStale time.Duration `yaml:"jwks_max_stale"`
	// Claims names the claims mapped into Principal.
	Claims ClaimNames `yaml:"claims"`
}

// ClaimNames names the claims mapped into a Principal.
type ClaimNames struct {
	// Subject default "sub".
	Subject string `yaml:"subject"`
	// Tenant default "tenant".
	Tenant string `yaml:"tenant"`
	// Scopes default "scope", falling back to "scp" when "scope" is absent.
	// The claim may be a space-separated string or an array of strings.
	Scopes string `yaml:"scopes"`
	// Roles default "roles"; a string array or a space-separated string.
	Roles string `yaml:"roles"`
	// Plan default "plan".
	Plan string `yaml:"plan"`
}

// KeyConfig is one statically configured key: exactly one of Secret, PEMFile
// and JWKFile.
type KeyConfig struct {
	// KID is the key id matched against the token's kid header. For JWKFile
	// it selects that key from the file (default: every key under its own kid).
	KID string `yaml:"kid"`
	// Secret is an HMAC secret of at least 32 bytes: a raw string, or
	// "base64:" followed by standard or URL base64.
	Secret string `yaml:"secret"`
	// PEMFile holds a public key (PKIX, PKCS1 or a certificate) or a private
	// key (PKCS1, PKCS8, SEC1), whose public half verifies and which
	// Sign uses to sign.
	PEMFile string `yaml:"pem_file"`
	// JWKFile holds a single JWK or a JWK Set.
	JWKFile string `yaml:"jwk_file"`
}

const (
	defaultLeeway        = 30 * time.Second
	defaultMaxTokenBytes = 8192
	defaultCacheEntries  = 100000
	defaultCacheTTL      = 5 * time.Minute
	defaultJWKSRefresh   = 5 * time.Minute
	defaultJWKSUnknown   = time.Minute
	defaultJWKSTimeout   = 2 * time.Second
	defaultJWKSMaxStale  = time.Hour
)

// withDefaults returns a copy with every zero value replaced by its default.
func (c Config) withDefaults() Config {
	defaults.Set(&c.Leeway, defaultLeeway)
	defaults.Set(&c.MaxTokenBytes, defaultMaxTokenBytes)
	defaults.Set(&c.CacheEntries, defaultCacheEntries)
	defaults.Set(&c.CacheTTL, defaultCacheTTL)
	c.Issuers = append([]IssuerConfig(nil), c.Issuers...)
	for i := range c.Issuers {
		c.Issuers[i] = c.Issuers[i].withDefaults()
	}
	return c
}

func (ic IssuerConfig) withDefaults() IssuerConfig {
	defaults.Set(&ic.Name, ic.Issuer)
	defaults.Set(&ic.JWKSRefresh, defaultJWKSRefresh)
	defaults.Set(&ic.JWKSUnknownKIDInterval, defaultJWKSUnknown)
	defaults.Set(&ic.JWKSTimeout, defaultJWKSTimeout)
	// A config that sets only a long jwks_refresh stays valid.
	defaults.Set(&ic.JWKSMaxStale, max(defaultJWKSMaxStale, ic.JWKSRefresh))
	defaults.Set(&ic.Claims.Subject, "sub")
	defaults.Set(&ic.Claims.Tenant, "tenant")
	defaults.Set(&ic.Claims.Scopes, "scope")
	defaults.Set(&ic.Claims.Roles, "roles")
	defaults.Set(&ic.Claims.Plan, "plan")
	return ic
}

// Validate checks the configuration without reading key files. It reports
// every problem (errors.Join), each starting with the path of the
// offending field, e.g. "issuers[1].algorithms[0]".
func (c Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Leeway < 0 {
		add("leeway: must not be negative")
	}
	if c.MaxTokenBytes < 0 {
		add("max_token_bytes: must not be negative")
	}
	if c.CacheEntries < 0 {
		add("cache_entries: must not be negative")
	}
	if c.CacheTTL < 0 {
		add("cache_ttl: must not be negative")
	}
	if len(c.Issuers) == 0 {
		add("issuers: at least one issuer is required")
	}
	seen := make(map[string]int, len(c.Issuers))
	names := make(map[string]int, len(c.Issuers))
	for i, ic := range c.Issuers {
		for _, err := range ic.validate() {
			add("issuers[%d].%w", i, err)
		}
		name := ic.withDefaults().Name
		if j, ok := seen[ic.Issuer]; ok {
			// Its name, by default the issuer, is then no news.
			add("issuers[%d].issuer: duplicate issuer %q (also issuers[%d])", i, ic.Issuer, j)
		} else if j, ok := names[name]; ok {
			add("issuers[%d].name: duplicate name %q (also issuers[%d])", i, name, j)
		}
		if _, ok := seen[ic.Issuer]; !ok {
			seen[ic.Issuer] = i
		}
		if _, ok := names[name]; !ok {
			names[name] = i
		}
	}
	return errors.Join(errs...)
}

// validate returns errors whose text starts with a field path relative to
// the issuer, so that Config.Validate can prefix "issuers[i].".
func (ic IssuerConfig) validate() []error {
	var errs []error
	if ic.Issuer == "" {
		errs = append(errs, errors.New("issuer: required"))
	}
	for i, a := range ic.Audiences {
		if a == "" {
			errs = append(errs, fmt.Errorf("audiences[%d]: must not be empty", i))
		}
	}
	hmac, err := validateAlgorithms(ic.Algorithms)
	if err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, ic.validateDurations()...)
	if err != nil {
		return errs // keys and jwks_url are checked against the algorithms' kind
	}
	errs = append(errs, ic.validateKeys(hmac)...)
	if err := ic.validateJWKSURL(hmac); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// validateAlgorithms reports whether the allow-list is the HMAC kind.
func validateAlgorithms(algs []string) (hmac bool, err error) {
	if len(algs) == 0 {
		return false, errors.New("algorithms: at least one algorithm is required")
	}
	for i, a := range algs {
		if strings.EqualFold(a, "none") {
			return false, fmt.Errorf("algorithms[%d]: %q is never allowed", i, a)
		}
		if _, ok := algKinds[a]; !ok {
			return false, fmt.Errorf("algorithms[%d]: unknown algorithm %q", i, a)
		}
		if isHMAC(a) != isHMAC(algs[0]) {
			return false, fmt.Errorf("algorithms: %s and %s cannot be mixed: HMAC and public-key algorithms in one issuer allow algorithm confusion", algs[0], a)
		}
	}
	return isHMAC(algs[0]), nil
}

func (ic IssuerConfig) validateDurations() []error {
	var errs []error
	for _, f := range []struct {
		key string
		d   time.Duration
	}{
		{"jwks_refresh", ic.JWKSRefresh},
		{"jwks_unknown_kid_interval", ic.JWKSUnknownKIDInterval},
		{"jwks_timeout", ic.JWKSTimeout},
		{"jwks_max_stale", ic.JWKSMaxStale},
	} {
		if f.d < 0 {
			errs = append(errs, fmt.Errorf("%s: must not be negative", f.key))
		}
	}
	// Shorter than the refresh interval, the set would go stale between two
	// fetches that both succeed.
	if refresh := cmp.Or(ic.JWKSRefresh, defaultJWKSRefresh); ic.JWKSMaxStale > 0 && ic.JWKSMaxStale < refresh {
		errs = append(errs, fmt.Errorf("jwks_max_stale: %s is shorter than jwks_refresh (%s)", ic.JWKSMaxStale, refresh))
	}
	return errs
}

func (ic IssuerConfig) validateKeys(hmac bool) []error {
	var errs []error
	kids := make(map[string]int, len(ic.Keys))
	secrets := 0
	for i, kc := range ic.Keys {
		if err := kc.validate(hmac, ic.Algorithms); err != nil {
			errs = append(errs, fmt.Errorf("keys[%d]%w", i, err))
		}
		if kc.Secret != "" {
			secrets++
		}
		if kc.JWKFile != "" || kc.KID == "" {
			continue // New checks kids in files, and kid-less keys per type
		}
		if j, ok := kids[kc.KID]; ok {
			errs = append(errs, fmt.Errorf("keys[%d].kid: duplicate kid %q (also keys[%d])", i, kc.KID, j))
			continue
		}
		kids[kc.KID] = i
	}
	switch {
	case len(errs) > 0:
		// A key of the wrong kind is already reported: not again as missing.
	case hmac && secrets == 0 && !hasJWKFile(ic.Keys):
		errs = append(errs, fmt.Errorf("keys: %s needs a secret key", ic.Algorithms[0]))
	case !hmac && len(ic.Keys) == 0 && ic.JWKSURL == "":
		errs = append(errs, fmt.Errorf("keys: %s needs a public key in keys or a jwks_url", ic.Algorithms[0]))
	}
	return errs
}

func hasJWKFile(keys []KeyConfig) bool {
	for _, kc := range keys {
		if kc.JWKFile != "" {
			return true
		}
	}
	return false
}

// validate returns an error text that continues the path "keys[i]".
func (kc KeyConfig) validate(hmac bool, algs []string) error {
	n := 0
	for _, s := range []string{kc.Secret, kc.PEMFile, kc.JWKFile} {
		if s != "" {
			n++
		}
	}
	if n != 1 {
		return errors.New(": exactly one of secret, pem_file and jwk_file is required")
	}
	switch {
	case kc.Secret != "" && !hmac:
		return fmt.Errorf(": a secret key fits none of algorithms %v", algs)
	case kc.PEMFile != "" && hmac:
		return fmt.Errorf(": a pem_file key fits none of algorithms %v", algs)
	case kc.Secret != "":
		if _, err := decodeSecret(kc.Secret); err != nil {
			return fmt.Errorf(".secret: %w", err)
		}
	}
	return nil
}

// decodeSecret decodes a KeyConfig.Secret and enforces its minimum length.
func decodeSecret(s string) ([]byte, error) {
	b := []byte(s)
	if enc, ok := strings.CutPrefix(s, "base64:"); ok {
		var err error
		if b, err = decodeBase64(enc); err != nil {
			return nil, fmt.Errorf("cannot decode base64: %w", err)
		}
	}
	if len(b) < minSecretBytes {
		return nil, fmt.Errorf("must be at least %d bytes, got %d", minSecretBytes, len(b))
	}
	return b, nil
}

// decodeBase64 accepts standard and URL alphabets, padded or not, because
// secrets are pasted from many tools.
func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if strings.ContainsAny(s, "-_") {
		return base64.RawURLEncoding.DecodeString(s)
	}
	return base64.RawStdEncoding.DecodeString(s)
}

func (ic IssuerConfig) validateJWKSURL(hmac bool) error {
	if ic.JWKSURL == "" {
		return nil
	}
	if hmac {
		return errors.New("jwks_url: not allowed with HMAC algorithms: secrets are never fetched from a URL")
	}
	u, err := url.Parse(ic.JWKSURL)
	if err != nil {
		return fmt.Errorf("jwks_url: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("jwks_url: %q is not an absolute http(s) URL", ic.JWKSURL)
	}
	return nil
}
