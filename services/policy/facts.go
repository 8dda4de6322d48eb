package policy

import (
	"encoding/json"
	"fmt"
)

// EncodeFacts turns a user's roles and properties into the JSON both stores keep them as.
func EncodeFacts(u User) (roles, properties []byte, err error) {
	r := u.Roles
	if r == nil {
		r = []string{}
	}
	p := u.Properties
	if p == nil {
		p = map[string]string{}
	}
	if roles, err = json.Marshal(r); err != nil {
		return nil, nil, fmt.Errorf("encode roles of %s: %w", u.UUID, err)
	}
	if properties, err = json.Marshal(p); err != nil {
		return nil, nil, fmt.Errorf("encode properties of %s: %w", u.UUID, err)
	}
	return roles, properties, nil
}

// DecodeFacts is EncodeFacts's inverse.
func DecodeFacts(u *User, roles, properties []byte) error {
	if err := json.Unmarshal(roles, &u.Roles); err != nil {
		return fmt.Errorf("decode roles of %s: %w", u.UUID, err)
	}
	if err := json.Unmarshal(properties, &u.Properties); err != nil {
		return fmt.Errorf("decode properties of %s: %w", u.UUID, err)
	}
	return nil
}
