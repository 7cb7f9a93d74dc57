// Package registration will own card enrolment (R-REG-*): the comparison with the issuer's card data,
// the ID-code check, binding one method per card (app or mTAN), re-registration and access counting.
// Empty until its issue.
package registration
