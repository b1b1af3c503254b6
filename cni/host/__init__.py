"""The kernel side: network namespaces, rtnetlink, sysctls, netfilter."""
