package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tiercel/tiercel/gateway/auth"
)

// demoScopes are every scope the demo routes require, so a default token
// works on all of them.
const demoScopes = "products:read products:write features:read features:write predict"

func token(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sub := fs.String("sub", "", "subject (required)")
	scope := fs.String("scope", demoScopes, "space-separated scopes")
	tenant := fs.String("tenant", "", "tenant claim")
	plan := fs.String("plan", "", "plan claim (selects a rate-limit tier, e.g. pro)")
	ttl := fs.Duration("ttl", time.Hour, "lifetime")
	configPath := fs.String("config", "", "sign with an issuer of this config file (default: the embedded demo key)")
	issuerName := fs.String("issuer", "", "issuer name in -config (default: the first)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *sub == "" {
		fmt.Fprintln(stderr, "tiercel token: -sub is required")
		return 2
	}
	cfg, err := loadConfig(*configPath, "127.0.0.1:1", overrides{})
	if err != nil {
		fmt.Fprintf(stderr, "tiercel token: %v\n", err)
		return 1
	}
	var iss *auth.IssuerConfig
	for i := range cfg.Auth.Issuers {
		if *issuerName == "" || cfg.Auth.Issuers[i].Name == *issuerName {
			iss = &cfg.Auth.Issuers[i]
			break
		}
	}
	if iss == nil {
		fmt.Fprintf(stderr, "tiercel token: no issuer %q in the config\n", *issuerName)
		return 1
	}
	now := time.Now()
	claims := jwt.MapClaims{
		"iss": iss.Issuer,
		"sub": *sub,
		"iat": now.Unix(),
		"nbf": now.Unix(),
		"exp": now.Add(*ttl).Unix(),
	}
	if len(iss.Audiences) > 0 {
		claims["aud"] = iss.Audiences[0]
	}
	names := iss.Claims
	setClaim(claims, names.Scopes, "scope", strings.Join(strings.Fields(*scope), " "))
	setClaim(claims, names.Tenant, "tenant", *tenant)
	setClaim(claims, names.Plan, "plan", *plan)
	tok, err := auth.Sign(*iss, claims)
	if err != nil {
		fmt.Fprintf(stderr, "tiercel token: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, tok)
	return 0
}

func setClaim(c jwt.MapClaims, name, def, value string) {
	if value == "" {
		return
	}
	if name == "" {
		name = def
	}
	c[name] = value
}
