from capi_sysext.entry import main

main()
