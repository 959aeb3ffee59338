"""Scrapy spiders for outlets without a usable feed: a listing-page spider driven by CSS
selectors from the config, and a news-sitemap spider. Both yield :class:`ArticleData`.

They run only inside the child process started by :mod:`crawler.spider_process`."""
