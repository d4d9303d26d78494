"""Identity and access: the principals (policies/principals.yaml), their ACLs, credentials."""
