// Package acs will own the EMV 3DS 2.2 surface of the server: AReq/ARes, the browser challenge
// (CReq/CRes), RReq/RRes and Erro messages; the risk decision with its reasons; the challenge state
// machine and pages; app confirmations; and the authentication value computed with the HSM.
//
// It is empty until the browser-flow issue lands; the foundation it builds on (hsm, store, envelope,
// cards, server) is in place.
package acs
