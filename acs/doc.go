// Package acs owns the EMV 3DS 2.2 surface of the server: AReq/ARes, the browser challenge (CReq/CRes),
// RReq/RRes and Erro messages; the risk decision with its reasons; the challenge state machine and
// pages; and the authentication value computed with the HSM.
//
// Files: messages.go decodes and validates AReqs (every message from a 3DS Server is hostile until
// validated, and a bad one is answered with an Erro naming the element); decision.go and risk.go decide
// (frictionless or challenge); creq.go and challenge.go run a challenge; result.go ends it exactly once
// and delivers its RReq, and ends challenges that time out; http.go and templates/ are the endpoints
// and pages; authvalue.go maps a transaction onto its authentication value (package authval) and
// verify.go verifies one for the issuer's authorisation host. App confirmations come with the app issue.
package acs
