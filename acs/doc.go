// Package acs owns the EMV 3DS 2.2 surface of the server: AReq/ARes, the browser challenge (CReq/CRes),
// RReq/RRes and Erro messages; the risk decision with its reasons; the challenge state machine and
// pages; app confirmations; and the authentication value computed with the HSM.
//
// So far it holds the decoding and validation of the AReq (messages.go): every message from a 3DS
// Server is hostile until validated, and a bad one is answered with an Erro naming the field. The
// decision, the challenge and the results flow follow in the browser-flow issue.
package acs
